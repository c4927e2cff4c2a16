import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { claimExecutorIds } from "../src/seats.js";

const DEAD_PID = 2 ** 22 + 12_345; // above Linux's pid_max: never a live process

test("a node takes over the executor ids of a dead predecessor on its seat", () => {
  const dir = mkdtempSync(join(tmpdir(), "seats-"));
  const ids = [randomUUID(), randomUUID()];
  writeFileSync(join(dir, "seat-0.lock"), `${hostname()} ${DEAD_PID}\n`);
  writeFileSync(join(dir, "seat-0.json"), JSON.stringify(ids));
  assert.deepEqual(claimExecutorIds(dir, 2), ids);
});

test("two nodes sharing a data directory get different ids; another host's seat is left alone", () => {
  const dir = mkdtempSync(join(tmpdir(), "seats-"));
  const other = [randomUUID()];
  writeFileSync(join(dir, "seat-0.lock"), `some-other-host ${DEAD_PID}\n`);
  writeFileSync(join(dir, "seat-0.json"), JSON.stringify(other));
  const a = claimExecutorIds(dir, 2);
  const b = claimExecutorIds(dir, 3);
  assert.equal(a.length, 2);
  assert.equal(b.length, 3);
  assert.equal(new Set([...a, ...b, ...other]).size, 6);
});
