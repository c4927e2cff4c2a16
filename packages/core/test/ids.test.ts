import assert from "node:assert/strict";
import { test } from "node:test";
import { isUuid } from "../src/ids.js";

test("isUuid: hyphenated, any case, nothing around it", () => {
  assert.ok(isUuid("0B0E2A5C-7f43-4c8e-9a4e-2c8d6d1f3b21"));
  for (const bad of [
    "",
    "task-0b0e2a5c-7f43-4c8e-9a4e-2c8d6d1f3b21",
    "0b0e2a5c7f434c8e9a4e2c8d6d1f3b21",
    "0b0e2a5c-7f43-4c8e-9a4e-2c8d6d1f3b2g",
  ])
    assert.ok(!isUuid(bad), bad);
});
