import assert from "node:assert/strict";
import { test } from "node:test";
import { KeyedMutex } from "../src/index.js";

test("KeyedMutex runs sections of one key one at a time in call order, surviving failures", async () => {
  const m = new KeyedMutex();
  const log: string[] = [];
  let inside = 0;
  const section = (name: string, fail = false) =>
    m.run("k", async () => {
      inside++;
      assert.equal(inside, 1);
      log.push(`start ${name}`);
      await new Promise((r) => setImmediate(r));
      log.push(`end ${name}`);
      inside--;
      if (fail) throw new Error(name);
      return name;
    });
  const results = await Promise.allSettled([section("a"), section("b", true), section("c")]);
  assert.deepEqual(log, ["start a", "end a", "start b", "end b", "start c", "end c"]);
  assert.deepEqual(
    results.map((r) => r.status),
    ["fulfilled", "rejected", "fulfilled"],
  );
  assert.equal(m.size, 0, "released keys are forgotten");
});

test("KeyedMutex: different keys do not wait for each other", async () => {
  const m = new KeyedMutex();
  let release!: () => void;
  const held = m.run("a", () => new Promise<void>((r) => (release = r)));
  assert.equal(await m.run("b", async () => "b"), "b");
  release();
  await held;
});

test("tryAcquire takes a free key at once, refuses a held or awaited one, and sections wait for its release", async () => {
  const m = new KeyedMutex();
  const release = m.tryAcquire("k");
  assert.ok(release);
  assert.equal(m.tryAcquire("k"), undefined, "held");
  assert.ok(m.tryAcquire("other"), "other keys are free");
  const order: string[] = [];
  const later = m.run("k", async () => {
    order.push("section");
  });
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(order.length, 0, "the section waits for the release");
  order.push("release");
  release();
  release(); // twice is harmless
  await later;
  assert.deepEqual(order, ["release", "section"]);
  const again = m.tryAcquire("k");
  assert.ok(again, "free again");
  again();
  const running = m.run("k", () => new Promise((r) => setTimeout(r, 10)));
  assert.equal(m.tryAcquire("k"), undefined, "a running section holds it");
  await running;
});
