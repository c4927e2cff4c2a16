// What sealing must guarantee, run against each backend: the store underneath only ever sees
// ciphertext, and any change made underneath is refused with StorageIntegrityError.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { describe, test } from "node:test";
import { queueKeys, SealedStore, StorageIntegrityError } from "../src/index.js";
import type { KvStore } from "../src/types.js";
import { type Backend, b } from "./conformance.js";

const integrity = (e: unknown): boolean =>
  e instanceof StorageIntegrityError &&
  e.message === "stored value failed its integrity check" &&
  e.code === 13;

async function withSealed(
  backend: Backend,
  fn: (sealed: SealedStore, raw: KvStore) => Promise<void>,
): Promise<void> {
  const raw = await (await backend.location()).open();
  const sealed = new SealedStore(raw, randomBytes(32));
  try {
    await fn(sealed, raw);
  } finally {
    await sealed.close();
  }
}

export function integritySuite(backend: Backend): void {
  describe(`SealedStore integrity over ${backend.name}`, () => {
    test("the store underneath holds version ‖ IV ‖ tag ‖ ciphertext, never the plaintext", () =>
      withSealed(backend, async (s, raw) => {
        const secret = b("the secret recipe, long enough to search for");
        await s.put(b("function-1"), secret);
        await s.put(b("function-2"), secret);
        const r1 = (await raw.get(b("function-1"))) as Buffer;
        const r2 = (await raw.get(b("function-2"))) as Buffer;
        assert.equal(r1.length, 1 + 12 + 16 + secret.length);
        assert.equal(r1[0], 1);
        assert.equal(r1.indexOf(secret), -1);
        assert.equal(r1.indexOf(secret.subarray(0, 8)), -1);
        assert.notDeepEqual(r1.subarray(1, 13), r2.subarray(1, 13), "fresh IV per value");
        await s.enqueue(b("q"), secret);
        const slot = (await raw.get(queueKeys(b("q")).element(0))) as Buffer;
        assert.equal(slot.indexOf(secret.subarray(0, 8)), -1);
        assert.deepEqual(await s.get(b("function-1")), secret);
        assert.deepEqual(await s.dequeue(b("q")), secret);
        // Keys stay in clear so prefix scans work.
        assert.deepEqual(await s.keysByPrefix(b("function-")), [b("function-1"), b("function-2")]);
      }));

    test("a flipped byte anywhere in a sealed value is detected", () =>
      withSealed(backend, async (s, raw) => {
        await s.put(b("k"), b("value"));
        const good = (await raw.get(b("k"))) as Buffer;
        for (const pos of [0, 1, 12, 13, 28, 29, good.length - 1]) {
          const bad = Buffer.from(good);
          bad[pos] = (bad[pos] as number) ^ 0x01;
          await raw.put(b("k"), bad);
          await assert.rejects(s.get(b("k")), integrity, `byte ${pos}`);
        }
        for (const cut of [0, 1, 28, good.length - 1]) {
          await raw.put(b("k"), good.subarray(0, cut));
          await assert.rejects(s.get(b("k")), integrity, `truncated to ${cut}`);
        }
        await raw.put(b("k"), good);
        assert.deepEqual(await s.get(b("k")), b("value"));
      }));

    test("a value read before is checked again once the bytes underneath change", () =>
      withSealed(backend, async (s, raw) => {
        await s.put(b("k"), b("value"));
        const got = (await s.get(b("k"))) as Buffer;
        got.fill(0x21); // a caller's copy: changing it changes nothing stored
        assert.deepEqual(await s.get(b("k")), b("value"));
        const written = b("other");
        await s.put(b("j"), written);
        written.fill(0x21);
        assert.deepEqual(await s.get(b("j")), b("other"));
        const good = (await raw.get(b("k"))) as Buffer;
        const bad = Buffer.from(good);
        bad[bad.length - 1] = (bad[bad.length - 1] as number) ^ 0x01;
        await raw.put(b("k"), bad);
        await assert.rejects(s.get(b("k")), integrity);
        await raw.put(b("k"), (await raw.get(b("j"))) as Buffer);
        await assert.rejects(s.get(b("k")), integrity, "another key's sealed value");
        await raw.put(b("k"), good);
        assert.deepEqual(await s.get(b("k")), b("value"));
      }));

    test("values swapped between two keys are detected", () =>
      withSealed(backend, async (s, raw) => {
        await s.batch([
          { type: "put", key: b("user-alice"), value: b("alice's record") },
          { type: "put", key: b("user-bob"), value: b("bob's record") },
        ]);
        const a = (await raw.get(b("user-alice"))) as Buffer;
        const bob = (await raw.get(b("user-bob"))) as Buffer;
        await raw.batch([
          { type: "put", key: b("user-alice"), value: bob },
          { type: "put", key: b("user-bob"), value: a },
        ]);
        await assert.rejects(s.get(b("user-alice")), integrity);
        await assert.rejects(s.get(b("user-bob")), integrity);
      }));

    test("a different sealing key cannot open the values", () =>
      withSealed(backend, async (s, raw) => {
        await s.put(b("k"), b("v"));
        await assert.rejects(new SealedStore(raw, randomBytes(32)).get(b("k")), integrity);
      }));

    test("queue elements swapped within a queue are detected", () =>
      withSealed(backend, async (s, raw) => {
        const q = queueKeys(b("staged-task"));
        await s.enqueue(b("staged-task"), b("task A"));
        await s.enqueue(b("staged-task"), b("task B"));
        const e0 = (await raw.get(q.element(0))) as Buffer;
        const e1 = (await raw.get(q.element(1))) as Buffer;
        await raw.batch([
          { type: "put", key: q.element(0), value: e1 },
          { type: "put", key: q.element(1), value: e0 },
        ]);
        await assert.rejects(s.dequeue(b("staged-task")), integrity);
        await assert.rejects(s.dequeueWait(b("staged-task"), 1000), integrity);
        assert.equal(await s.dequeue(b("staged-task")), undefined);
      }));

    test("queue elements moved to another queue, or forged from values, are detected", () =>
      withSealed(backend, async (s, raw) => {
        await s.enqueue(b("a"), b("for queue a"));
        await s.enqueue(b("b"), b("for queue b"));
        const fromA = (await raw.get(queueKeys(b("a")).element(0))) as Buffer;
        await raw.put(queueKeys(b("b")).element(0), fromA);
        await assert.rejects(s.dequeue(b("b")), integrity);

        // A value the sealed store wrote through put() to the very key of a slot is not
        // accepted as a queue element, even though the raw keys coincide.
        await s.enqueue(b("c"), b("genuine"));
        await s.put(queueKeys(b("c")).element(0), b("forged"));
        await assert.rejects(s.dequeue(b("c")), integrity);

        // And the other way round: an element does not open as an ordinary value.
        await s.enqueue(b("d"), b("element"));
        await assert.rejects(s.get(queueKeys(b("d")).element(0)), integrity);
      }));

    test("a queue element deleted underneath is reported, and the queue moves on", () =>
      withSealed(backend, async (s, raw) => {
        await s.enqueue(b("q"), b("one"));
        await s.enqueue(b("q"), b("two"));
        await raw.delete(queueKeys(b("q")).element(0));
        await assert.rejects(s.dequeue(b("q")), integrity);
        assert.deepEqual(await s.dequeue(b("q")), b("two"));
      }));
  });
}
