// A function failure that legacy clients saw as a successful result (MESAPY_EXEC_ERROR, a WAMR
// trap text) keeps that Ok result on the Teaclave wire and in storage, with the reason beside it.
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  type TaskResult,
  taskResultFromJsonValue,
  taskResultFromProto,
  taskResultToJsonValue,
  taskResultToProto,
} from "../src/index.js";

const failed: TaskResult = {
  kind: "Ok",
  returnValue: Buffer.from("MESAPY_EXEC_ERROR"),
  tagsMap: new Map(),
  log: [],
  failure: "MESAPY_EXEC_ERROR: ZeroDivisionError: division by zero",
};

test("a legacy-reported failure survives storage and the wire", () => {
  assert.deepEqual(taskResultFromJsonValue(taskResultToJsonValue(failed)), failed);
  const wire = taskResultToProto(failed);
  assert.equal(Buffer.from(wire.Ok!.returnValue).toString(), "MESAPY_EXEC_ERROR");
  assert.equal(wire.Ok!.cloisterFailure, failed.failure);
  assert.deepEqual(taskResultFromProto(wire), failed);
});

test("an ordinary Ok result has no failure, in storage or on the wire", () => {
  const ok: TaskResult = { kind: "Ok", returnValue: Buffer.from("7"), tagsMap: new Map(), log: [] };
  assert.deepEqual(taskResultFromJsonValue(taskResultToJsonValue(ok)), ok);
  assert.equal(taskResultToProto(ok).Ok!.cloisterFailure, undefined);
  assert.deepEqual(taskResultFromProto(taskResultToProto(ok)), ok);
});
