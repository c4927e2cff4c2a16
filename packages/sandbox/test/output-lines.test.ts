// Lines cut from a job's stdout/stderr as they arrive: split on newlines across chunks, a long
// line cut once and marked, and one byte budget for both streams.
import assert from "node:assert/strict";
import { test } from "node:test";
import { OutputBudget, OutputLines } from "../src/output-lines.js";

test("lines are split across chunks, a long one is cut once, the budget is shared", () => {
  const got: string[] = [];
  const budget = new OutputBudget(64);
  const out = new OutputLines((l) => got.push(l), 8, budget);
  const err = new OutputLines((l) => got.push(`err:${l}`), 8, budget);
  out.push(Buffer.from("ab"));
  out.push(Buffer.from("c\r\nde"));
  err.push(Buffer.from("0123456789abcdef\nok\n"));
  out.push(Buffer.from("f\n"));
  assert.deepEqual(got, ["abc", "err:01234567 […]", "err:ok", "def"]);
  out.push(Buffer.from("tail"));
  out.flush();
  assert.equal(got.at(-1), "tail");
  // The budget (64 bytes) is nearly spent: what does not fit is not sent, and nothing after.
  err.push(Buffer.from(`${"y".repeat(7)}\n`.repeat(10)));
  const total = got.reduce((n, l) => n + Buffer.byteLength(l.replace(/^err:/, "")) + 1, 0);
  assert.ok(total <= 64, `sent ${total} bytes`);
  assert.equal(got.filter((l) => l === "err:yyyyyyy").length, 4);
  assert.equal(budget.left, 0);
  err.push(Buffer.from("z\n"));
  assert.notEqual(got.at(-1), "err:z");
});
