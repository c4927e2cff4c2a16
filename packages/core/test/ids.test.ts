import assert from "node:assert/strict";
import { test } from "node:test";
import { newExternalId, parseExternalId } from "../src/ids.js";

test("external ids round-trip and reject the wrong kind", () => {
  const id = newExternalId("task");
  assert.match(id, /^task-[0-9a-f-]{36}$/);
  assert.equal(`task-${parseExternalId(id, "task")}`, id);
  assert.throws(() => parseExternalId(id, "input"), /Invalid external id/);
  assert.throws(() => parseExternalId("task-nope", "task"));
  assert.throws(() => parseExternalId("task", "task"));
});
