// The behaviour every KvStore must have, written once and run against each backend (plain and
// sealed). Each test opens a fresh, empty location so tests never see each other's data.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { SealedStore, StorageClosedError, StorageError } from "../src/index.js";
import type { KvStore } from "../src/types.js";

export interface Location {
  /** Open (or, after close, reopen) the store at this location. */
  open(): Promise<KvStore>;
}

export interface Backend {
  name: string;
  /** A new, empty location. */
  location(): Promise<Location>;
  /** Whether two stores may be open on one location at once (separate clients). */
  sharedAccess: boolean;
}

export const b = (s: string): Buffer => Buffer.from(s, "utf8");
const sortBytes = (keys: Buffer[]): Buffer[] => [...keys].sort(Buffer.compare);
const text = (keys: Buffer[]): string[] => keys.map((k) => k.toString("latin1"));

/** The same backend with every store wrapped in a SealedStore under one fixed key. */
export function sealed(backend: Backend, key: Buffer = randomBytes(32)): Backend {
  return {
    name: `sealed ${backend.name}`,
    sharedAccess: backend.sharedAccess,
    async location() {
      const inner = await backend.location();
      return { open: async () => new SealedStore(await inner.open(), key) };
    },
  };
}

async function withStore(backend: Backend, fn: (s: KvStore, loc: Location) => Promise<void>): Promise<void> {
  const loc = await backend.location();
  const s = await loc.open();
  try {
    await fn(s, loc);
  } finally {
    await s.close();
  }
}

async function drain(s: KvStore, q: Buffer): Promise<string[]> {
  const out: string[] = [];
  for (let v = await s.dequeue(q); v !== undefined; v = await s.dequeue(q)) out.push(v.toString());
  return out;
}

export function conformance(backend: Backend): void {
  describe(`KvStore conformance: ${backend.name}`, () => {
    test("get/put/delete, empty values, binary keys", () =>
      withStore(backend, async (s) => {
        assert.equal(await s.get(b("missing")), undefined);
        await s.put(b("k"), b("v1"));
        assert.deepEqual(await s.get(b("k")), b("v1"));
        await s.put(b("k"), b("v2"));
        assert.deepEqual(await s.get(b("k")), b("v2"));
        await s.put(b("empty"), Buffer.alloc(0));
        assert.deepEqual(await s.get(b("empty")), Buffer.alloc(0));
        const bin = Buffer.from([0x00, 0xff, 0x80, 0x00]);
        const big = randomBytes(64 * 1024);
        await s.put(bin, big);
        assert.deepEqual(await s.get(bin), big);
        await s.delete(b("k"));
        assert.equal(await s.get(b("k")), undefined);
        await s.delete(b("k")); // missing: not an error
        await s.delete(b("never-existed"));
        assert.deepEqual(await s.get(b("empty")), Buffer.alloc(0));
      }));

    test("keysByPrefix returns exactly the keys with the prefix, ascending", () =>
      withStore(backend, async (s) => {
        const keys = [
          "function-b",
          "function-a",
          "function-",
          "functio",
          "function.",
          "functionx",
          "fun",
          "g",
          "task-1",
        ];
        for (const k of keys) await s.put(b(k), b("x"));
        assert.deepEqual(text(await s.keysByPrefix(b("function-"))), [
          "function-",
          "function-a",
          "function-b",
        ]);
        assert.deepEqual(text(await s.keysByPrefix(b("function"))), [
          "function-",
          "function-a",
          "function-b",
          "function.",
          "functionx",
        ]);
        assert.deepEqual(text(await s.keysByPrefix(b("task-"))), ["task-1"]);
        assert.deepEqual(text(await s.keysByPrefix(Buffer.alloc(0))), text(sortBytes(keys.map(b))));
      }));

    test("keysByPrefix never leaks the first key after the prefix (legacy defect, §9.1)", () =>
      withStore(backend, async (s) => {
        // Legacy returned the first key at or after the prefix even when it did not match.
        await s.put(b("output-1"), b("x"));
        await s.put(b("task-1"), b("x"));
        assert.deepEqual(await s.keysByPrefix(b("input-")), []);
        assert.deepEqual(await s.keysByPrefix(b("function-")), []);
        assert.deepEqual(await s.keysByPrefix(b("zzz-")), []);
        assert.deepEqual(await s.keysByPrefix(b("output-2")), []);
      }));

    test("keysByPrefix handles 0x00/0xff bytes at the prefix boundary", () =>
      withStore(backend, async (s) => {
        const keys = [
          [0x01, 0xff],
          [0x01, 0xff, 0x00],
          [0x01, 0xff, 0xff],
          [0x02],
          [0x01, 0xfe, 0xff],
          [0xff, 0xff],
          [0xff],
        ];
        for (const k of keys) await s.put(Buffer.from(k), b("x"));
        const hex = (ks: Buffer[]) => ks.map((k) => k.toString("hex"));
        assert.deepEqual(hex(await s.keysByPrefix(Buffer.from([0x01, 0xff]))), ["01ff", "01ff00", "01ffff"]);
        assert.deepEqual(hex(await s.keysByPrefix(Buffer.from([0xff]))), ["ff", "ffff"]);
        assert.deepEqual(hex(await s.keysByPrefix(Buffer.from([0x01]))), [
          "01feff",
          "01ff",
          "01ff00",
          "01ffff",
        ]);
      }));

    test("keysByPrefix returns large listings completely and in order", () =>
      withStore(backend, async (s) => {
        const n = 1500;
        const keys = Array.from({ length: n }, (_, i) => b(`user-${randomBytes(6).toString("hex")}-${i}`));
        for (let i = 0; i < n; i += 100)
          await Promise.all(keys.slice(i, i + 100).map((k) => s.put(k, b("1"))));
        await s.put(b("usex"), b("outside"));
        assert.deepEqual(text(await s.keysByPrefix(b("user-"))), text(sortBytes(keys)));
      }));

    test("batch applies puts and deletes together; last op per key wins", () =>
      withStore(backend, async (s) => {
        await s.put(b("a"), b("old-a"));
        await s.put(b("b"), b("old-b"));
        await s.batch([
          { type: "put", key: b("c"), value: b("new-c") },
          { type: "del", key: b("a") },
          { type: "put", key: b("b"), value: b("first") },
          { type: "put", key: b("b"), value: b("second") },
          { type: "put", key: b("d"), value: b("gone") },
          { type: "del", key: b("d") },
          { type: "del", key: b("never") },
        ]);
        assert.equal(await s.get(b("a")), undefined);
        assert.deepEqual(await s.get(b("b")), b("second"));
        assert.deepEqual(await s.get(b("c")), b("new-c"));
        assert.equal(await s.get(b("d")), undefined);
        await s.batch([]);
      }));

    test("a batch that cannot be applied changes nothing", () =>
      withStore(backend, async (s) => {
        await s.put(b("keep"), b("v"));
        const bad = [
          { type: "put", key: b("new"), value: b("v") },
          { type: "del", key: b("keep") },
          { type: "put", key: "not bytes", value: b("v") },
        ] as unknown as Parameters<KvStore["batch"]>[0];
        await assert.rejects(s.batch(bad), (e: unknown) => e instanceof StorageError && e.code === 3);
        assert.equal(await s.get(b("new")), undefined);
        assert.deepEqual(await s.get(b("keep")), b("v"));
      }));

    test("queues are FIFO, independent of each other, and report empty as undefined", () =>
      withStore(backend, async (s) => {
        const q1 = b("staged-task");
        const q2 = b("cancel_queue");
        assert.equal(await s.dequeue(q1), undefined);
        for (let i = 0; i < 20; i++) await s.enqueue(q1, b(`t${i}`));
        await s.enqueue(q2, b("c0"));
        await s.enqueue(q2, Buffer.alloc(0));
        assert.deepEqual((await s.dequeue(q1))?.toString(), "t0");
        await s.enqueue(q1, b("t20"));
        assert.deepEqual(
          await drain(s, q1),
          Array.from({ length: 20 }, (_, i) => `t${i + 1}`),
        );
        assert.deepEqual(await s.dequeue(q2), b("c0"));
        assert.deepEqual(await s.dequeue(q2), Buffer.alloc(0));
        assert.equal(await s.dequeue(q2), undefined);
      }));

    test("queue elements live in the legacy layout (§9.2) and keys are cleaned up", () =>
      withStore(backend, async (s) => {
        await s.enqueue(b("q"), b("a"));
        await s.enqueue(b("q"), b("b"));
        assert.deepEqual(text(await s.keysByPrefix(b("queue-q-"))), [
          "queue-q-\x00\x00\x00\x00",
          "queue-q-\x01\x00\x00\x00",
          "queue-q-tail",
        ]);
        await drain(s, b("q"));
        assert.deepEqual(text(await s.keysByPrefix(b("queue-q-"))), ["queue-q-head", "queue-q-tail"]);
      }));

    test("concurrent dequeuers receive every element exactly once", () =>
      withStore(backend, async (s, loc) => {
        const q = b("work");
        const m = 60;
        const stores = [s];
        if (backend.sharedAccess) stores.push(await loc.open(), await loc.open());
        try {
          // Producers run concurrently too, from every client.
          await Promise.all(
            Array.from({ length: m }, (_, i) =>
              (stores[i % stores.length] as KvStore).enqueue(q, b(`e${i}`)),
            ),
          );
          const got: string[][] = await Promise.all(
            Array.from({ length: 8 }, (_, i) => drain(stores[i % stores.length] as KvStore, q)),
          );
          const all = got.flat().sort();
          assert.deepEqual(all, Array.from({ length: m }, (_, i) => `e${i}`).sort());
          assert.equal(new Set(all).size, m);
        } finally {
          for (const other of stores.slice(1)) await other.close();
        }
      }));

    test("dequeueWait returns at once when an element is there, else undefined at the timeout", () =>
      withStore(backend, async (s) => {
        await s.enqueue(b("w"), b("ready"));
        assert.deepEqual(await s.dequeueWait(b("w"), 10_000), b("ready"));
        assert.equal(await s.dequeueWait(b("w"), 0), undefined);
        assert.equal(await s.dequeueWait(b("w"), 30), undefined);
      }));

    test("dequeueWait wakes up on enqueue", () =>
      withStore(backend, async (s, loc) => {
        const waiting = s.dequeueWait(b("w"), 60_000);
        await sleep(100); // let it subscribe and find the queue empty (not a timing assertion)
        await s.enqueue(b("w"), b("hello"));
        assert.deepEqual(await waiting, b("hello"));

        // Two waiters, two elements, each delivered once.
        const w1 = s.dequeueWait(b("w"), 60_000);
        const w2 = s.dequeueWait(b("w"), 60_000);
        await sleep(50);
        await s.enqueue(b("w"), b("x"));
        await s.enqueue(b("w"), b("y"));
        assert.deepEqual([(await w1)?.toString(), (await w2)?.toString()].sort(), ["x", "y"]);

        if (backend.sharedAccess) {
          // A producer in another process (another client) wakes the waiter too.
          const other = await loc.open();
          try {
            const remote = s.dequeueWait(b("w"), 60_000);
            await sleep(100);
            await other.enqueue(b("w"), b("from-elsewhere"));
            assert.deepEqual(await remote, b("from-elsewhere"));
          } finally {
            await other.close();
          }
        }
      }));

    test("enqueueWith appends and writes in one step; dequeueInto moves the element under a key", () =>
      withStore(backend, async (s) => {
        await s.put(b("gone"), b("x"));
        await s.enqueueWith(b("m"), b("first"), [
          { type: "put", key: b("rec-1"), value: b("staged") },
          { type: "del", key: b("gone") },
        ]);
        await s.enqueueWith(b("m"), b("second"), []);
        assert.deepEqual(await s.get(b("rec-1")), b("staged"));
        assert.equal(await s.get(b("gone")), undefined);

        assert.deepEqual(await s.dequeueInto(b("m"), b("lease-a"), 1000), b("first"));
        assert.deepEqual(await s.get(b("lease-a")), b("first"));
        assert.deepEqual(await s.dequeueInto(b("m"), b("lease-b"), 0), b("second"));
        assert.deepEqual(await s.get(b("lease-b")), b("second"));
        assert.equal(await s.dequeueInto(b("m"), b("lease-c"), 0), undefined);
        assert.equal(await s.get(b("lease-c")), undefined);

        const waiting = s.dequeueInto(b("m"), b("lease-d"), 60_000);
        await sleep(100); // let it find the queue empty (not a timing assertion)
        await s.enqueue(b("m"), b("late"));
        assert.deepEqual(await waiting, b("late"));
        assert.deepEqual(await s.get(b("lease-d")), b("late"));
        assert.equal(await s.dequeue(b("m")), undefined);
      }));

    test("dequeueWait rejects when aborted or when the store closes", async () => {
      const loc = await backend.location();
      const s = await loc.open();
      const ac = new AbortController();
      const aborted = s.dequeueWait(b("w"), 60_000, ac.signal);
      await sleep(20);
      ac.abort();
      await assert.rejects(aborted, { name: "AbortError" });
      await assert.rejects(s.dequeueWait(b("w"), 60_000, ac.signal), { name: "AbortError" });
      // Nothing was consumed by the aborted waiter.
      await s.enqueue(b("w"), b("kept"));
      assert.deepEqual(await s.dequeue(b("w")), b("kept"));

      const pending = assert.rejects(
        s.dequeueWait(b("w"), 60_000),
        (e: unknown) => e instanceof StorageClosedError,
      );
      await sleep(20);
      await s.close();
      await pending;
      await assert.rejects(s.get(b("k")), (e: unknown) => e instanceof StorageClosedError);
      await s.close(); // idempotent
    });

    test("state survives close and reopen", async () => {
      const loc = await backend.location();
      const s1 = await loc.open();
      await s1.put(b("function-1"), b("f"));
      await s1.batch([{ type: "put", key: b("task-1"), value: b("t") }]);
      await s1.enqueue(b("q"), b("first"));
      await s1.enqueue(b("q"), b("second"));
      assert.deepEqual(await s1.dequeue(b("q")), b("first"));
      await s1.close();

      const s2 = await loc.open();
      try {
        assert.deepEqual(await s2.get(b("function-1")), b("f"));
        assert.deepEqual(await s2.get(b("task-1")), b("t"));
        await s2.enqueue(b("q"), b("third"));
        assert.deepEqual(await drain(s2, b("q")), ["second", "third"]);
      } finally {
        await s2.close();
      }
    });

    test("bad input is refused with a typed error", () =>
      withStore(backend, async (s) => {
        const isInvalid = (e: unknown) => e instanceof StorageError && e.code === 3;
        const anyStore = s as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>;
        await assert.rejects(async () => anyStore.get?.("key"), isInvalid);
        await assert.rejects(async () => anyStore.put?.(b("k"), "v"), isInvalid);
        await assert.rejects(async () => anyStore.enqueue?.(b("q"), 42), isInvalid);
        await assert.rejects(async () => s.dequeueWait(b("q"), -1), isInvalid);
        await assert.rejects(async () => s.dequeueWait(b("q"), Number.NaN), isInvalid);
        // Any Uint8Array is accepted as bytes.
        await s.put(new Uint8Array([1, 2]) as Buffer, new Uint8Array([3]) as Buffer);
        assert.deepEqual(await s.get(Buffer.from([1, 2])), Buffer.from([3]));
      }));
  });
}
