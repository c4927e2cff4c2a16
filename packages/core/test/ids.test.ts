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

test("isUuid agrees with the pattern it stands for, character by character", () => {
  const re = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
  const base = "0b0e2a5c-7f43-4c8e-9a4e-2c8d6d1f3b21";
  // Every position with every character of the first 256 code points and a few beyond.
  const chars = [...Array.from({ length: 256 }, (_, i) => String.fromCharCode(i)), "\u0130", "\uff21", "😀"];
  for (let i = 0; i < base.length; i++)
    for (const c of chars) {
      const s = base.slice(0, i) + c + base.slice(i + 1);
      assert.equal(isUuid(s), re.test(s), JSON.stringify(s));
    }
  for (const s of [base.slice(1), `${base}0`, ` ${base}`, base.toUpperCase(), base.replace(/-/g, "_")])
    assert.equal(isUuid(s), re.test(s), s);
});
