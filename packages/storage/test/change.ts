// waitForChange (the storage side of WatchTask) against each backend: it answers at once for an
// unknown digest, sleeps until a write touches the key, and never misses one.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { digestOf, hasKeyWatches, waitForChange } from "../src/index.js";
import type { KeyWatches, KvStore } from "../src/types.js";
import { type Backend, b } from "./conformance.js";

async function withWatchable(
  backend: Backend,
  fn: (s: KvStore & KeyWatches) => Promise<void>,
): Promise<void> {
  const s = await (await backend.location()).open();
  try {
    assert.ok(hasKeyWatches(s), `${backend.name} watches keys`);
    await fn(s);
  } finally {
    await s.close();
  }
}

const later = (ms: number, fn: () => Promise<unknown>) =>
  new Promise<void>((resolve, reject) => setTimeout(() => fn().then(() => resolve(), reject), ms));

export function changeSuite(backend: Backend): void {
  describe(`${backend.name}: waitForChange`, () => {
    test("answers at once without a known digest, and with one that is already stale", async () => {
      await withWatchable(backend, async (s) => {
        const absent = await waitForChange(s, b("k"), Buffer.alloc(0), 5000);
        assert.equal(absent?.value, undefined);
        assert.deepEqual(absent?.digest, digestOf(undefined));
        await s.put(b("k"), b("v1"));
        const now = await waitForChange(s, b("k"), absent!.digest, 5000);
        assert.equal(now?.value?.toString(), "v1");
        assert.notDeepEqual(digestOf(b("")), digestOf(undefined), "empty and absent differ");
      });
    });

    test("sleeps until a put, a batch or a delete touches the key", async () => {
      await withWatchable(backend, async (s) => {
        await s.put(b("k"), b("v1"));
        const known = digestOf(b("v1"));
        const [put] = await Promise.all([
          waitForChange(s, b("k"), known, 10_000),
          later(50, () => s.put(b("other"), b("x")).then(() => s.put(b("k"), b("v2")))),
        ]);
        assert.equal(put?.value?.toString(), "v2");
        const [batch] = await Promise.all([
          waitForChange(s, b("k"), put!.digest, 10_000),
          later(50, () => s.batch([{ type: "put", key: b("k"), value: b("v3") }])),
        ]);
        assert.equal(batch?.value?.toString(), "v3");
        const [gone] = await Promise.all([
          waitForChange(s, b("k"), batch!.digest, 10_000),
          later(50, () => s.delete(b("k"))),
        ]);
        assert.ok(gone, "a delete is a change");
        assert.equal(gone.value, undefined);
      });
    });

    test("a record written with a queue element (EnqueueWith) wakes its watcher", async () => {
      await withWatchable(backend, async (s) => {
        const [seen] = await Promise.all([
          waitForChange(s, b("task"), digestOf(undefined), 10_000),
          later(50, () =>
            s.enqueueWith(b("q"), b("element"), [{ type: "put", key: b("task"), value: b("staged") }]),
          ),
        ]);
        assert.equal(seen?.value?.toString(), "staged");
      });
    });

    test("times out (undefined) when nothing changes, and stops when its signal aborts", async () => {
      await withWatchable(backend, async (s) => {
        await s.put(b("k"), b("same"));
        const known = digestOf(b("same"));
        assert.equal(await waitForChange(s, b("k"), known, 100), undefined);
        // Rewriting the same value is no change.
        const [same] = await Promise.all([
          waitForChange(s, b("k"), known, 300),
          later(50, () => s.put(b("k"), b("same"))),
        ]);
        assert.equal(same, undefined);
        const ac = new AbortController();
        setTimeout(() => ac.abort(new Error("gone")), 50);
        await assert.rejects(waitForChange(s, b("k"), known, 10_000, ac.signal), /gone/);
      });
    });
  });
}
