import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { EtcdStore, StorageError } from "../src/index.js";
import { changeSuite } from "./change.js";
import { type Backend, b, conformance, sealed } from "./conformance.js";
import { type EtcdServer, startEtcd } from "./etcd-server.js";
import { integritySuite } from "./integrity.js";

let server: EtcdServer | undefined;
before(async () => {
  server = await startEtcd();
});
after(async () => {
  await server?.stop();
});

const endpoint = (): string => {
  if (!server) throw new Error("etcd server did not start");
  return server.endpoint;
};

// Every location is a fresh namespace on the one test server.
const etcd: Backend = {
  name: "etcd",
  sharedAccess: true,
  async location() {
    const namespace = `test-${randomBytes(6).toString("hex")}/`;
    return { open: () => EtcdStore.open({ endpoints: [endpoint()], namespace }) };
  },
};

conformance(etcd);
changeSuite(etcd);
changeSuite(sealed(etcd));
conformance(sealed(etcd));
integritySuite(etcd);

describe("EtcdStore specifics", () => {
  test("namespaces keep deployments apart", async () => {
    const a = await EtcdStore.open({ endpoints: [endpoint()], namespace: "ns-a/" });
    const c = await EtcdStore.open({ endpoints: [endpoint()], namespace: "ns-a/c/" });
    try {
      await a.put(b("k"), b("in a"));
      await c.put(b("k"), b("in c"));
      assert.deepEqual(await a.get(b("k")), b("in a"));
      assert.deepEqual(await c.get(b("k")), b("in c"));
      // c's keys are visible from a only under c's prefix, never the other way round.
      assert.deepEqual(await c.keysByPrefix(Buffer.alloc(0)), [b("k")]);
      assert.deepEqual(await a.keysByPrefix(b("c/")), [b("c/k")]);
    } finally {
      await a.close();
      await c.close();
    }
  });

  test("a batch the server refuses as a whole applies nothing", async () => {
    const s = await EtcdStore.open({
      endpoints: [endpoint()],
      namespace: `limits-${randomBytes(4).toString("hex")}/`,
    });
    try {
      await s.put(b("k-0"), b("old"));
      // etcd's default --max-txn-ops is 128.
      const ops = Array.from({ length: 200 }, (_, i) => ({
        type: "put" as const,
        key: b(`k-${i}`),
        value: b("new"),
      }));
      await assert.rejects(
        s.batch(ops),
        (e: unknown) => e instanceof StorageError && /--max-txn-ops/.test(e.message),
      );
      assert.deepEqual(await s.keysByPrefix(b("k-")), [b("k-0")]);
      assert.deepEqual(await s.get(b("k-0")), b("old"));
      // etcd's default --max-request-bytes is 1.5 MiB.
      for (const mib of [1.6, 3]) {
        await assert.rejects(
          s.put(b("big"), Buffer.alloc(mib * 1024 * 1024)),
          (e: unknown) => e instanceof StorageError && /--max-request-bytes/.test(e.message),
        );
      }
    } finally {
      await s.close();
    }
  });

  test("when the cluster goes away, operations and waiters report it", async () => {
    const own = await startEtcd();
    const s = await EtcdStore.open({ endpoints: [own.endpoint] });
    try {
      await s.put(b("k"), b("v"));
      await own.stop();
      await assert.rejects(s.get(b("k")), StorageError);
      await assert.rejects(s.dequeueWait(b("q"), 300), StorageError);
    } finally {
      await s.close();
      await own.stop();
    }
  });

  test("an unreachable cluster fails open() with a clear error", async () => {
    await assert.rejects(
      EtcdStore.open({ endpoints: ["http://127.0.0.1:1"], connectTimeoutMs: 500 }),
      (e: unknown) => e instanceof StorageError && /cannot reach etcd/.test(e.message),
    );
    await assert.rejects(
      EtcdStore.open({ endpoints: [] }),
      (e: unknown) => e instanceof StorageError && e.code === 3,
    );
  });
});
