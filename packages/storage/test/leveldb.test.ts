import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { ClassicLevel } from "classic-level";
import {
  type BatchOp,
  LevelDbStore,
  SealedStore,
  StorageError,
  StorageIntegrityError,
} from "../src/index.js";
import { changeSuite } from "./change.js";
import { type Backend, b, conformance, sealed } from "./conformance.js";
import { integritySuite } from "./integrity.js";

const dirs: string[] = [];
const tempDir = async (): Promise<string> => {
  const d = await mkdtemp(join(tmpdir(), "cloister-leveldb-"));
  dirs.push(d);
  return d;
};
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

type WriteBatch = (ops: readonly BatchOp[]) => Promise<void>;

/**
 * Puts `wrap` around the store's writeBatch (the one place a LevelDB batch is written), given
 * the real write; returns what puts the real one back.
 */
function onBatchWrite(s: LevelDbStore, wrap: (ops: readonly BatchOp[], write: WriteBatch) => Promise<void>) {
  const db = s as unknown as { writeBatch: WriteBatch };
  const original = db.writeBatch.bind(db);
  db.writeBatch = (ops) => wrap(ops, original);
  return () => {
    db.writeBatch = original;
  };
}

const leveldb: Backend = {
  name: "LevelDB",
  sharedAccess: false,
  async location() {
    const path = join(await tempDir(), "db");
    return { open: () => LevelDbStore.open(path) };
  },
};

conformance(leveldb);
changeSuite(leveldb);
changeSuite(sealed(leveldb));
conformance(sealed(leveldb));
integritySuite(leveldb);

describe("LevelDbStore specifics", () => {
  test("a flipped byte in the raw LevelDB file value is detected after reopen", async () => {
    const path = join(await tempDir(), "db");
    const key = randomBytes(32);
    const s1 = new SealedStore(await LevelDbStore.open(path), key);
    await s1.put(b("task-1"), b('{"status":"Created"}'));
    await s1.close();

    const raw = new ClassicLevel<Buffer, Buffer>(path, { keyEncoding: "buffer", valueEncoding: "buffer" });
    await raw.open();
    const v = (await raw.get(b("task-1"))) as Buffer;
    v[v.length - 1] = (v[v.length - 1] as number) ^ 0x80;
    await raw.put(b("task-1"), v);
    await raw.close();

    const s2 = new SealedStore(await LevelDbStore.open(path), key);
    try {
      await assert.rejects(s2.get(b("task-1")), StorageIntegrityError);
    } finally {
      await s2.close();
    }
  });

  test("a directory in use by another store is refused with a clear error", async () => {
    const path = join(await tempDir(), "db");
    const s = await LevelDbStore.open(path);
    try {
      await assert.rejects(
        LevelDbStore.open(path),
        (e: unknown) => e instanceof StorageError && /in use/.test(e.message),
      );
    } finally {
      await s.close();
    }
  });

  test("sync writes work", async () => {
    const s = await LevelDbStore.open(join(await tempDir(), "db"), { sync: true });
    try {
      await s.put(b("k"), b("v"));
      await s.enqueue(b("q"), b("e"));
      assert.deepEqual(await s.get(b("k")), b("v"));
      assert.deepEqual(await s.dequeue(b("q")), b("e"));
    } finally {
      await s.close();
    }
  });

  test("writes that arrive while one is in flight go out together, in order, each acknowledged", async () => {
    const path = join(await tempDir(), "db");
    const s = await LevelDbStore.open(path);
    const sizes: number[] = [];
    const restore = onBatchWrite(s, (ops, write) => {
      sizes.push(ops.length);
      return write(ops);
    });
    try {
      await Promise.all(Array.from({ length: 20 }, (_, i) => s.put(b("k"), b(`v${i}`))));
      assert.equal((await s.get(b("k")))?.toString(), "v19", "the last write issued wins");
      assert.ok(sizes.length < 20, `grouped: ${sizes.length} LevelDB batches for 20 writes`);
    } finally {
      restore();
      await s.close();
    }
    const again = await LevelDbStore.open(path);
    try {
      assert.equal((await again.get(b("k")))?.toString(), "v19", "durable after a reopen");
    } finally {
      await again.close();
    }
  });

  test("a write that fails in a group fails alone", async () => {
    const s = await LevelDbStore.open(join(await tempDir(), "db"));
    const restore = onBatchWrite(s, (ops, write) =>
      ops.some((op) => op.key.toString() === "poison")
        ? Promise.reject(new Error("disk says no"))
        : write(ops),
    );
    try {
      const results = await Promise.allSettled([
        s.put(b("first"), b("1")),
        s.put(b("a"), b("2")),
        s.put(b("poison"), b("3")),
        s.batch([{ type: "put", key: b("c"), value: b("4") }]),
      ]);
      assert.deepEqual(
        results.map((r) => r.status),
        ["fulfilled", "fulfilled", "rejected", "fulfilled"],
      );
      assert.ok(results[2]!.status === "rejected" && results[2]!.reason instanceof StorageError);
      assert.equal((await s.get(b("a")))?.toString(), "2");
      assert.equal(await s.get(b("poison")), undefined, "the failed write is not in the cache");
      assert.equal((await s.get(b("c")))?.toString(), "4");
    } finally {
      restore();
      await s.close();
    }
  });

  test("dequeueIntoWith: the writes computed from the element go in the move's atomic step", async () => {
    const s = await LevelDbStore.open(join(await tempDir(), "db"));
    const batches: number[] = [];
    const restore = onBatchWrite(s, (ops, write) => {
      batches.push(ops.length);
      return write(ops);
    });
    try {
      await s.enqueue(b("q"), b("element"));
      batches.length = 0;
      const seen: string[] = [];
      const got = await s.dequeueIntoWith(b("q"), b("claim"), 0, undefined, async (e) => {
        seen.push(e.toString());
        return [{ type: "put", key: b("lease"), value: b(`for ${e}`) }];
      });
      assert.equal(got?.toString(), "element");
      assert.deepEqual(seen, ["element"]);
      assert.deepEqual(batches, [4], "slot, head, claim and the extra write: one batch");
      assert.equal((await s.get(b("claim")))?.toString(), "element");
      assert.equal((await s.get(b("lease")))?.toString(), "for element");

      // A failing computation: the move is written alone, the caller gets the error.
      await s.enqueue(b("q"), b("second"));
      await assert.rejects(
        s.dequeueIntoWith(b("q"), b("claim2"), 0, undefined, async () => {
          throw new Error("no lease");
        }),
        (e: unknown) => e instanceof StorageError && (e.cause as Error).message === "no lease",
      );
      assert.equal((await s.get(b("claim2")))?.toString(), "second");
      assert.equal(await s.dequeue(b("q")), undefined);
      // An empty queue: not called.
      let called = false;
      const none = await s.dequeueIntoWith(b("q"), b("claim3"), 0, undefined, async () => {
        called = true;
        return [];
      });
      assert.equal(none, undefined);
      assert.equal(called, false);
    } finally {
      restore();
      await s.close();
    }
  });

  test("SealedStore.dequeueIntoWith seals the extra writes; over a backend that cannot add them, only the move", async () => {
    const inner = await LevelDbStore.open(join(await tempDir(), "db"));
    const key = randomBytes(32);
    const s = new SealedStore(inner, key);
    try {
      await s.enqueue(b("q"), b("secret element"));
      const got = await s.dequeueIntoWith(b("q"), b("claim"), 0, undefined, async (e) => [
        { type: "put", key: b("lease"), value: b(`lease of ${e}`) },
      ]);
      assert.equal(got?.toString(), "secret element");
      assert.equal((await s.get(b("lease")))?.toString(), "lease of secret element");
      assert.equal((await s.get(b("claim")))?.toString(), "secret element");
      const rawLease = await inner.get(b("lease"));
      assert.ok(rawLease && !rawLease.includes(b("lease of")), "sealed at rest");

      // An inner store whose queue moves ignore `with` (as etcd's do): withOps is never called.
      const plainMoves = new Proxy(inner, {
        get(target, prop) {
          if (prop === "dequeueIndexedWait")
            return (
              q: Buffer,
              ms: number,
              signal: AbortSignal | undefined,
              into: { key: Buffer; encode: never },
            ) => target.dequeueIndexedWait(q, ms, signal, { key: into.key, encode: into.encode });
          const v = Reflect.get(target, prop, target);
          return typeof v === "function" ? v.bind(target) : v;
        },
      });
      const s2 = new SealedStore(plainMoves, key);
      await s2.enqueue(b("q"), b("other"));
      let called = false;
      const got2 = await s2.dequeueIntoWith(b("q"), b("claim2"), 0, undefined, async () => {
        called = true;
        return [{ type: "put", key: b("never"), value: b("x") }];
      });
      assert.equal(got2?.toString(), "other");
      assert.equal(called, false);
      assert.equal(await s2.get(b("never")), undefined);
      assert.equal((await s2.get(b("claim2")))?.toString(), "other");
    } finally {
      await s.close();
    }
  });

  test("every value sealed gets its own IV, across refills of the IV pool", async () => {
    const path = join(await tempDir(), "db");
    const inner = await LevelDbStore.open(path);
    const s = new SealedStore(inner, randomBytes(32));
    try {
      const n = 1000; // the pool holds 341 IVs
      await s.batch(
        Array.from({ length: n }, (_, i) => ({ type: "put" as const, key: b(`k${i}`), value: b("same") })),
      );
      const ivs = new Set<string>();
      for (let i = 0; i < n; i++)
        ivs.add(((await inner.get(b(`k${i}`))) as Buffer).subarray(1, 13).toString("hex"));
      assert.equal(ivs.size, n);
      assert.equal((await s.get(b("k999")))?.toString(), "same");
    } finally {
      await s.close();
    }
  });
});
