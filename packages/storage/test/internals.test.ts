import assert from "node:assert/strict";
import { test } from "node:test";
import { prefixEnd } from "../src/bytes.js";
import { decodeCounter, encodeCounter, nextSlot, queueKeys } from "../src/queue-layout.js";
import { Wakeup } from "../src/wait.js";

test("prefixEnd is the least key above every key with the prefix", () => {
  const hex = (p: number[]) => prefixEnd(Buffer.from(p))?.toString("hex");
  assert.equal(hex([0x61, 0x62]), "6163");
  assert.equal(hex([0x61, 0xff]), "62");
  assert.equal(hex([0x61, 0xff, 0xff]), "62");
  assert.equal(hex([0xff, 0xff]), undefined);
  assert.equal(hex([]), undefined);
  const input = Buffer.from([0x61, 0x62]);
  prefixEnd(input);
  assert.deepEqual(input, Buffer.from([0x61, 0x62]), "input untouched");
});

test("legacy queue keys and counters", () => {
  const k = queueKeys(Buffer.from("staged-task"));
  assert.equal(k.head.toString(), "queue-staged-task-head");
  assert.equal(k.tail.toString(), "queue-staged-task-tail");
  assert.equal(
    k.element(0x01020304).toString("hex"),
    `${Buffer.from("queue-staged-task-").toString("hex")}04030201`,
  );
  assert.equal(decodeCounter(undefined), 0);
  assert.equal(decodeCounter(encodeCounter(0xfffffffe)), 0xfffffffe);
  assert.deepEqual(encodeCounter(1), Buffer.from([1, 0, 0, 0]));
  assert.throws(() => decodeCounter(Buffer.from([1, 2])), /queue counter is corrupt/);
});

test("slot indexes wrap at 2^32 and skip the two slots whose keys are the counters", () => {
  assert.equal(nextSlot(0), 1);
  assert.equal(nextSlot(0xffffffff), 0);
  const k = queueKeys(Buffer.from("q"));
  const head = Buffer.from("head").readUInt32LE(0);
  const tail = Buffer.from("tail").readUInt32LE(0);
  assert.deepEqual(k.element(head), k.head, "the collision being avoided is real");
  assert.deepEqual(k.element(tail), k.tail);
  assert.equal(nextSlot(head - 1), head + 1);
  assert.equal(nextSlot(tail - 1), tail + 1);
});

test("Wakeup does not lose a notify that comes before next()", async () => {
  const w = new Wakeup();
  w.notify();
  await w.next();
  let woke = false;
  const p = w.next().then(() => {
    woke = true;
  });
  await new Promise((r) => setImmediate(r));
  assert.equal(woke, false);
  w.notify();
  await p;
  assert.equal(woke, true);
});
