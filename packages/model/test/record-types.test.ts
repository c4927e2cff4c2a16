// The record modules: key layout, codec round trips in both versions, legacy decode, ids.
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  AuditEntryId,
  auditEntries,
  buildStagedTask,
  createTask,
  FunctionId,
  type FunctionRecord,
  functionRecords,
  InputId,
  inputRecords,
  isRecordIdError,
  OutputId,
  outputRecords,
  parseTask,
  RecordFormatError,
  serializeFunction,
  serializeInputFile,
  serializeStagedTask,
  serializeTask,
  stagedTasks,
  TaskId,
  taskEvidenceRecords,
  taskRecords,
  tokenSigningKey,
  usageRecords,
  userAccounts,
  userFunctionsRecords,
} from "../src/index.js";

const U = "0b0e2a5c-7f43-4c8e-9a4e-2c8d6d1f3b21";
const payload = Buffer.from([0, 1, 2, 250, 255, 34, 92]);

const fn: FunctionRecord = {
  uuid: U,
  name: "echo",
  description: "",
  public: true,
  executorType: "builtin",
  payload,
  arguments: [{ key: "message", defaultValue: "", allowOverwrite: true }],
  inputs: [{ name: "in", description: "", optional: false }],
  outputs: [{ name: "out", description: "", optional: false }],
  owner: "alice",
  userAllowlist: [],
  usageQuota: null,
};

function task() {
  const t = createTask({
    creator: "alice",
    role: "PlatformAdmin",
    fn,
    executor: "builtin",
    functionArguments: '{"message":"x"}',
    inputsOwnership: [{ dataName: "in", uids: ["alice"] }],
    outputsOwnership: [{ dataName: "out", uids: ["alice"] }],
  });
  t.assignedInputs.set("in", {
    uuid: U,
    url: "http://h/in",
    cmac: Buffer.alloc(16, 7),
    crypto: { schema: "aes-gcm-128", key: Buffer.alloc(16, 1), iv: Buffer.alloc(12, 2) },
    owners: new Set(["alice"]),
  });
  t.assignedOutputs.set("out", {
    uuid: U,
    url: "http://h/out",
    cmac: null,
    crypto: { schema: "teaclave-file-128", key: Buffer.alloc(16, 3) },
    owners: new Set(["alice"]),
  });
  t.result = {
    kind: "Ok",
    returnValue: Buffer.from("ok"),
    tagsMap: new Map([["out", Buffer.alloc(16, 5)]]),
    log: [],
  };
  return t;
}

test("key layout: the legacy keys, derived from typed ids in one place", () => {
  const id = TaskId.fromUuid(U.toUpperCase());
  assert.equal(taskRecords.key(id).toString(), `task-${U}`);
  assert.equal(taskEvidenceRecords.key(id).toString(), `evidence-task-${U}`);
  assert.equal(functionRecords.key(FunctionId.fromUuid(U)).toString(), `function-${U}`);
  assert.equal(usageRecords.key(FunctionId.fromUuid(U)).toString(), `usage-${U}`);
  assert.equal(inputRecords.key(InputId.fromUuid(U)).toString(), `input-${U}`);
  assert.equal(outputRecords.key(OutputId.fromUuid(U)).toString(), `output-${U}`);
  assert.match(userFunctionsRecords.key("alice").toString(), /^user-[0-9a-f-]{36}$/);
  assert.equal(userAccounts.key("alice").toString(), "user/alice");
  assert.equal(tokenSigningKey.key("token-signing-key").toString(), "token-signing-key");
  const audit = AuditEntryId.create(1234);
  assert.match(auditEntries.key(audit).toString(), /^audit-00000000000000001234-[0-9a-f-]{36}$/);
  assert.equal(AuditEntryId.microsecondOf(audit), 1234);
  // Keys list back to their ids; keys of other types or damaged ones to none.
  assert.equal(taskRecords.idOfKey(Buffer.from(`task-${U}`)), U);
  assert.equal(taskRecords.idOfKey(Buffer.from(`task-nope`)), undefined);
  assert.equal(taskRecords.idOfKey(Buffer.from(`function-${U}`)), undefined);
  assert.equal(auditEntries.idOfKey(auditEntries.key(audit)), audit);
  assert.equal(userAccounts.idOfKey(Buffer.from("user/bob")), "bob");
});

test("external ids: typed conversions at the edge, bad input is a typed error", () => {
  const id = TaskId.parse(`task-${U.toUpperCase()}`);
  assert.equal(id, U);
  assert.equal(TaskId.external(id), `task-${U}`);
  assert.equal(TaskId.fromUuid(U), id);
  const malformed = ["", "task", "task-", "task-xyz", `task-${U}x`, `task_${U}`];
  for (const bad of malformed)
    assert.throws(
      () => TaskId.parse(bad),
      (e) => isRecordIdError(e, "malformed"),
    );
  assert.throws(
    () => TaskId.parse(`function-${U}`),
    (e) => isRecordIdError(e, "wrong-kind"),
  );
  assert.throws(
    () => TaskId.fromUuid(`task-${U}`),
    (e) => isRecordIdError(e, "malformed"),
  );
  assert.throws(
    () => FunctionId.fromUuid(""),
    (e) => isRecordIdError(e, "malformed"),
  );
  assert.equal(TaskId.tryParse(`input-${U}`), undefined);
  // Legacy texts, unchanged (clients match them).
  assert.throws(() => TaskId.parse("nodash"), { message: "Invalid external id: nodash" });
  assert.throws(() => TaskId.parse("task-xyz"), /invalid character: expected an optional prefix/);
  assert.notEqual(TaskId.create(), TaskId.create());
});

test("codec version 2: round trips, base64 bytes, `v` first", () => {
  const t = task();
  const raw = taskRecords.encode(t);
  assert.ok(raw.toString().startsWith('{"v":2,"task_id":'));
  assert.ok(!raw.toString().includes("[0,1,2"), "bytes are not number arrays");
  assert.deepEqual(taskRecords.decode(raw), t);
  const f = functionRecords.encode(fn);
  assert.match(f.toString(), new RegExp(`"payload":"${payload.toString("base64").replace(/\+/g, "\\+")}"`));
  assert.deepEqual(functionRecords.decode(f), fn);
  const staged = buildStagedTask(t, fn);
  assert.deepEqual(stagedTasks.decode(stagedTasks.encode(staged)), staged);
  const entry = { microsecond: 5, ip: Buffer.from([127, 0, 0, 1]), user: "u", message: "m", result: true };
  assert.deepEqual(auditEntries.decode(auditEntries.encode(entry)), entry);
  const account = { id: "a", role: "PlatformAdmin", password: { salt: "00", hash: "ff" } };
  assert.deepEqual(userAccounts.decode(userAccounts.encode(account)), account);
  // A large payload stays compact: base64 is 4/3 of the bytes, not up to 4×.
  const big = { ...fn, payload: Buffer.alloc(1 << 20, 0xff) };
  assert.ok(functionRecords.encode(big).length < 1.4 * (1 << 20));
  assert.ok(functionRecords.encode(big, 1).length > 3.9 * (1 << 20));
});

test("legacy (version 1) records written by the previous format still read", () => {
  const t = task();
  assert.deepEqual(taskRecords.decode(Buffer.from(serializeTask(t))), t);
  assert.deepEqual(functionRecords.decode(Buffer.from(serializeFunction(fn))), fn);
  const input = t.assignedInputs.get("in")!;
  assert.deepEqual(inputRecords.decode(serializeInputFile(input)), input);
  const staged = buildStagedTask(t, fn);
  assert.deepEqual(stagedTasks.decode(Buffer.from(serializeStagedTask(staged))), staged);
  // Version 1 on request is byte-for-byte the legacy text.
  assert.equal(taskRecords.encode(t, 1).toString(), serializeTask(t));
  assert.equal(stagedTasks.encode(staged, 1).toString(), serializeStagedTask(staged));
  // The text parsers read both versions.
  assert.deepEqual(parseTask(taskRecords.encode(t).toString()), t);
  // A hand-written legacy audit entry (number-array ip).
  assert.deepEqual(
    auditEntries.decode('{"microsecond":7,"ip":[10,0,0,1],"user":"u","message":"m","result":false}'),
    { microsecond: 7, ip: Buffer.from([10, 0, 0, 1]), user: "u", message: "m", result: false },
  );
});

test("the versions do not mix, and damage is a RecordFormatError", () => {
  const legacy = serializeFunction(fn);
  const v2 = functionRecords.encode(fn).toString();
  const bad = [
    // a version 2 record with a number array, a version 1 record with a base64 string
    v2.replace(`"${payload.toString("base64")}"`, `[${[...payload].join(",")}]`),
    legacy.replace(`[${[...payload].join(",")}]`, `"${payload.toString("base64")}"`),
    // non-canonical base64, an unknown version, not an object, not JSON
    v2.replace(`"${payload.toString("base64")}"`, '"AAE=="'),
    v2.replace('{"v":2,', '{"v":3,'),
    "[1,2]",
  ];
  for (const text of bad) assert.throws(() => functionRecords.decode(text), RecordFormatError, text);
  assert.throws(() => functionRecords.decode("{"), RecordFormatError);
  assert.throws(
    () => taskRecords.decode(serializeTask(task()).replace(/"task_id":"[^"]+"/, '"task_id":"x"')),
    RecordFormatError,
  );
  assert.throws(() => userAccounts.decode('{"id":"a","role":"r"}'), RecordFormatError);
});

test("staged tasks: the task id without decoding the payload, and the legacy form for legacy nodes", () => {
  const t = task();
  const staged = buildStagedTask(t, { ...fn, payload: Buffer.alloc(1 << 20, 1) });
  const v2 = stagedTasks.encode(staged);
  const v1 = stagedTasks.encode(staged, 1);
  assert.equal(stagedTasks.taskIdOf(v2), t.uuid);
  assert.equal(stagedTasks.taskIdOf(v1), t.uuid);
  assert.equal(stagedTasks.inVersion(v2, 2), v2);
  assert.equal(stagedTasks.inVersion(v2, 1).toString(), v1.toString());
  assert.equal(stagedTasks.inVersion(v1, 2).toString(), v2.toString());
  assert.throws(() => stagedTasks.taskIdOf(Buffer.from('{"v":2,"task_id":"nope"}')), RecordFormatError);
});
