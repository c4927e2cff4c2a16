import assert from "node:assert/strict";
import { test } from "node:test";
import { benchStorage } from "../bench/storage.bench.js";

test("benchStorage reports positive ops/s for every metric of plain and sealed LevelDB", async () => {
  const r = await benchStorage({ ops: 300, valueBytes: 64 });
  const metrics = ["putsPerSec", "getsPerSec", "batchPutsPerSec", "enqueueDequeuePerSec"];
  assert.deepEqual(
    Object.keys(r).sort(),
    ["leveldb", "sealed-leveldb"].flatMap((v) => metrics.map((m) => `${v}.${m}`)).sort(),
  );
  for (const [k, v] of Object.entries(r)) assert.ok(Number.isFinite(v) && v > 0, `${k} = ${v}`);
});
