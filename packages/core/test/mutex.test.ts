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
