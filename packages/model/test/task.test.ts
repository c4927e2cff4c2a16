import assert from "node:assert/strict";
import { test } from "node:test";
import { CloisterError } from "@cloister/core";
import { common } from "@cloister/proto";
import {
  approveTask,
  assignData,
  buildStagedTask,
  type CreateTaskInput,
  cancelByUser,
  cancelTask,
  checkQuota,
  createTask,
  ensureCreator,
  type FunctionRecord,
  failExecutorTimeout,
  finishWithResult,
  type InputFileRecord,
  markRunning,
  type OutputFileRecord,
  parseStagedTask,
  parseTask,
  serializeStagedTask,
  serializeTask,
  stageTask,
  TaskId,
  type TaskRecord,
  type TaskResult,
  TaskStatus,
  taskResultFromProto,
  taskResultToProto,
} from "../src/index.js";

const err = (code: number, message: string) => (e: unknown) =>
  e instanceof CloisterError && e.code === code && e.message === message && e.kind !== undefined;

const FN_UUID = "11111111-1111-4111-8111-111111111111";
const TASK_UUID = TaskId.fromUuid("22222222-2222-4222-8222-222222222222");

function fn(over: Partial<FunctionRecord> = {}): FunctionRecord {
  return {
    uuid: FN_UUID,
    name: "builtin-ordered-set-intersect",
    description: "",
    public: true,
    executorType: "builtin",
    payload: Buffer.alloc(0),
    arguments: [
      { key: "order", defaultValue: "ascending", allowOverwrite: false },
      { key: "save_log", defaultValue: "", allowOverwrite: true },
    ],
    inputs: [
      { name: "input_data1", description: "", optional: false },
      { name: "input_data2", description: "", optional: false },
      { name: "extra", description: "", optional: true },
    ],
    outputs: [
      { name: "output_result1", description: "", optional: false },
      { name: "output_result2", description: "", optional: false },
    ],
    owner: "fowner",
    userAllowlist: [],
    usageQuota: null,
    ...over,
  };
}

function create(over: Partial<CreateTaskInput> = {}): TaskRecord {
  return createTask({
    uuid: TASK_UUID,
    creator: "alice",
    role: "DataOwner-",
    fn: fn(),
    executor: "builtin",
    functionArguments: '{"save_log": "true"}',
    inputsOwnership: [
      { dataName: "input_data1", uids: ["alice"] },
      { dataName: "input_data2", uids: ["bob"] },
    ],
    outputsOwnership: [
      { dataName: "output_result1", uids: ["alice"] },
      { dataName: "output_result2", uids: ["bob"] },
    ],
    ...over,
  });
}

const n = (i: number) => `0000000${i}-0000-4000-8000-000000000000`;
const input = (i: number, owners: string[]): InputFileRecord => ({
  uuid: n(i),
  url: `http://files/in${i}`,
  cmac: Buffer.alloc(16, i),
  crypto: { schema: "aes-gcm-128", key: Buffer.alloc(16, 1), iv: Buffer.alloc(12, 2) },
  owners: new Set(owners),
});
const output = (i: number, owners: string[], cmac: Buffer | null = null): OutputFileRecord => ({
  uuid: n(i),
  url: `http://files/out${i}`,
  cmac,
  crypto: { schema: "teaclave-file-128", key: Buffer.alloc(16, 3) },
  owners: new Set(owners),
});

test("CreateTask: merge, participants, initial state", () => {
  const t = create();
  assert.equal(t.status, TaskStatus.Created);
  assert.deepEqual([...t.participants].sort(), ["alice", "bob"]);
  assert.equal(t.result.kind, "NotReady");
  assert.deepEqual([...t.functionArguments.keys()], ["order", "save_log"]);
  assert.equal(t.functionArguments.get("order"), "ascending");
  // A private function adds its owner as participant.
  const p = create({ fn: fn({ public: false, userAllowlist: [""] }) });
  assert.ok(p.participants.has("fowner"));
});

test("CreateTask: role rule uses the data-owner attribute against the allowlist", () => {
  const priv = fn({ public: false, userAllowlist: ["bank"] });
  assert.ok(create({ fn: priv, role: "DataOwner-bank" }));
  assert.ok(create({ fn: priv, role: "DataOwnerManager-bank" }));
  assert.ok(create({ fn: priv, role: "PlatformAdmin" }));
  assert.throws(() => create({ fn: priv, role: "DataOwner-other" }), err(7, "permission denied"));
  assert.throws(() => create({ fn: fn(), role: "FunctionOwner" }), err(7, "permission denied"));
  assert.throws(() => create({ fn: fn(), role: "garbage" }), err(7, "permission denied"));
});

test("CreateTask: executor, argument JSON and argument-set rules", () => {
  assert.throws(() => create({ executor: "python" }), err(3, "Unsupported executor: python"));
  assert.throws(
    () => create({ functionArguments: "" }),
    err(3, "EOF while parsing a value at line 1 column 0"),
  );
  assert.throws(() => create({ functionArguments: "[1]" }), err(3, "Cannot convert to function arguments"));
  assert.throws(() => create({ functionArguments: "{}" }), err(3, "invalid task"));
  assert.throws(() => create({ functionArguments: '{"save_log":"x","order":"y"}' }), err(3, "invalid task"));
  const t = create({ functionArguments: '{"save_log": {"b": 1.0, "a": [true]}}' });
  assert.equal(
    serializeTask(t).match(/"function_arguments":(\{"inner":.*?\}\}\})/)?.[1],
    '{"inner":{"order":"ascending","save_log":{"a":[true],"b":1.0}}}',
  );
});

test("CreateTask: input/output name rules", () => {
  assert.throws(
    () => create({ inputsOwnership: [{ dataName: "input_data1", uids: ["a"] }] }),
    err(3, "invalid task"),
  );
  assert.throws(
    () =>
      create({
        inputsOwnership: [
          { dataName: "input_data1", uids: ["a"] },
          { dataName: "input_data2", uids: ["a"] },
          { dataName: "undeclared", uids: ["a"] },
        ],
      }),
    err(3, "invalid task"),
  );
  // Optional inputs may be given.
  create({
    inputsOwnership: [
      { dataName: "input_data1", uids: ["a"] },
      { dataName: "input_data2", uids: ["a"] },
      { dataName: "extra", uids: ["c"] },
    ],
  });
  assert.throws(() => create({ outputsOwnership: [] }), err(3, "invalid task"));
});

test("two-party flow: assign by each owner, approve by each participant, stage, run, finish", () => {
  let t = create();
  assert.throws(() => assignData(t, "mallory", [], []), err(7, "permission denied"));
  t = assignData(
    t,
    "alice",
    [["input_data1", input(1, ["alice"])]],
    [["output_result1", output(3, ["alice"])]],
  );
  assert.equal(t.status, TaskStatus.Created);
  assert.throws(() => approveTask(t, "alice"), err(2, "failed to approve task"));
  // bob cannot assign alice's slot, nor a file he does not own, nor a file whose owners differ.
  assert.throws(
    () => assignData(t, "bob", [["input_data1", input(5, ["bob"])]], []),
    err(7, "permission denied"),
  );
  assert.throws(
    () => assignData(t, "bob", [["input_data2", input(5, ["carol"])]], []),
    err(7, "permission denied"),
  );
  assert.throws(
    () => assignData(t, "bob", [["input_data2", input(5, ["bob", "x"])]], []),
    err(7, "permission denied"),
  );
  assert.throws(() => assignData(t, "bob", [["nope", input(5, ["bob"])]], []), err(7, "permission denied"));
  // Output with an existing cmac is rejected (fix of the legacy gap).
  assert.throws(
    () => assignData(t, "bob", [], [["output_result2", output(4, ["bob"], Buffer.alloc(16))]]),
    err(7, "permission denied"),
  );
  // All-or-nothing: a failing second entry leaves the task unchanged.
  const before = serializeTask(t);
  assert.throws(() =>
    assignData(
      t,
      "bob",
      [
        ["input_data2", input(2, ["bob"])],
        ["input_data2", input(2, ["bob"])],
      ],
      [],
    ),
  );
  assert.equal(serializeTask(t), before);
  t = assignData(t, "bob", [["input_data2", input(2, ["bob"])]], [["output_result2", output(4, ["bob"])]]);
  assert.equal(t.status, TaskStatus.DataAssigned);
  assert.throws(() => assignData(t, "bob", [], []), err(2, "failed to assign data to task"));
  assert.throws(() => stageTask(t), err(2, "failed to invoke task"));
  assert.throws(() => approveTask(t, "mallory"), err(7, "permission denied"));
  t = approveTask(t, "alice");
  t = approveTask(t, "alice");
  assert.equal(t.status, TaskStatus.DataAssigned);
  t = approveTask(t, "bob");
  assert.equal(t.status, TaskStatus.Approved);
  assert.throws(() => approveTask(t, "bob"), err(2, "failed to approve task"));
  assert.throws(() => ensureCreator(t, "bob"), err(7, "permission denied"));
  ensureCreator(t, "alice");
  t = stageTask(t);
  assert.equal(t.status, TaskStatus.Staged);
  assert.throws(() => stageTask(t), err(2, "failed to invoke task"));

  const staged = buildStagedTask(t, fn());
  const json = serializeStagedTask(staged);
  const k1 = Array(16).fill(1).join(",");
  const iv = Array(12).fill(2).join(",");
  const k3 = Array(16).fill(3).join(",");
  assert.equal(
    json,
    `{"task_id":"${TASK_UUID}","function_id":"${FN_UUID}","user_id":"alice","executor":"Builtin","executor_type":"Builtin",` +
      `"function_name":"builtin-ordered-set-intersect","function_arguments":{"inner":{"order":"ascending","save_log":"true"}},` +
      `"function_payload":[],"input_data":{"inner":{` +
      `"input_data1":{"url":"http://files/in1","cmac":{"tag":[${Array(16).fill(1).join(",")}]},"crypto_info":{"AesGcm128":{"key":[${k1}],"iv":[${iv}]}},"owner":{"uids":["alice"]}},` +
      `"input_data2":{"url":"http://files/in2","cmac":{"tag":[${Array(16).fill(2).join(",")}]},"crypto_info":{"AesGcm128":{"key":[${k1}],"iv":[${iv}]}},"owner":{"uids":["bob"]}}}},` +
      `"output_data":{"inner":{"output_result1":{"url":"http://files/out3","crypto_info":{"TeaclaveFile128":{"key":[${k3}]}},"owner":{"uids":["alice"]}},` +
      `"output_result2":{"url":"http://files/out4","crypto_info":{"TeaclaveFile128":{"key":[${k3}]}},"owner":{"uids":["bob"]}}}}}`,
  );
  assert.deepEqual(parseStagedTask(json), staged);
  // A legacy scheduler's entries carry no owner: they parse, with no owners (no file: access).
  const legacy = parseStagedTask(json.replace(/,"owner":\{"uids":\[[^\]]*\]\}/g, ""));
  assert.deepEqual(
    [...legacy.inputData.values()].map((f) => f.owners),
    [[], []],
  );

  assert.throws(
    () => finishWithResult(t, { kind: "Err", reason: "x" }),
    err(13, "Cannot restore to Finish from saved state"),
  );
  t = markRunning(t);
  assert.throws(() => markRunning(t), err(13, "Cannot restore to Run from saved state"));
  const ok = (tags: Array<[string, Buffer]>) => ({
    kind: "Ok" as const,
    returnValue: Buffer.from("2"),
    tagsMap: new Map(tags),
    log: [] as string[],
  });
  assert.throws(
    () => finishWithResult(t, ok([["output_result1", Buffer.alloc(15)]])),
    err(13, "Invalid length"),
  );
  assert.throws(
    () => finishWithResult(t, ok([["nope", Buffer.alloc(16)]])),
    err(13, 'Upadate_cmac: file not found. "nope"'),
  );
  const done = finishWithResult(
    t,
    ok([
      ["output_result1", Buffer.alloc(16, 5)],
      ["output_result2", Buffer.alloc(16, 6)],
    ]),
  );
  assert.equal(done.task.status, TaskStatus.Finished);
  assert.equal(done.updatedOutputs.length, 2);
  assert.deepEqual(done.updatedOutputs.find((o) => o.uuid === n(3))?.cmac, Buffer.alloc(16, 5));
  assert.deepEqual(done.task.assignedOutputs.get("output_result2")?.cmac, Buffer.alloc(16, 6));
  // The input task was not touched (pure functions).
  assert.equal(t.assignedOutputs.get("output_result2")?.cmac, null);
  // A second result cannot overwrite.
  const running = { ...done.task, status: TaskStatus.Running };
  assert.throws(
    () => finishWithResult(running, ok([["output_result1", Buffer.alloc(16)]])),
    err(13, "Cannot overwrite output file cmac"),
  );
  // Round trip of the full task record.
  assert.deepEqual(parseTask(serializeTask(done.task)), done.task);
  // Terminal: cancel attempts fail / are ignored.
  assert.throws(
    () => cancelTask(done.task, "alice", "DataOwner-"),
    err(2, "failed to cancel task, reason: task has already been canceled"),
  );
  assert.equal(cancelByUser(done.task), done.task);
  assert.equal(failExecutorTimeout(done.task), done.task);
});

test("single-participant task without data needs no approval or assignment", () => {
  const f = fn({ inputs: [], outputs: [], arguments: [] });
  const t = create({ fn: f, functionArguments: "{}", inputsOwnership: [], outputsOwnership: [] });
  assert.equal(stageTask(t).status, TaskStatus.Staged);
  // Approving it is allowed too (all data trivially assigned).
  assert.equal(approveTask(t, "alice").status, TaskStatus.Approved);
});

test("task legacy JSON layout", () => {
  const f = fn({ inputs: [], outputs: [], arguments: [] });
  const t = create({ fn: f, functionArguments: "{}", inputsOwnership: [], outputsOwnership: [] });
  assert.equal(
    serializeTask(t),
    `{"task_id":"${TASK_UUID}","creator":"alice","function_id":{"prefix":"function","uuid":"${FN_UUID}"},` +
      `"function_arguments":{"inner":{}},"executor":"Builtin","inputs_ownership":{"inner":{}},"outputs_ownership":{"inner":{}},` +
      `"function_owner":"fowner","participants":{"uids":["alice"]},"approved_users":{"uids":[]},"assigned_inputs":{"inner":{}},` +
      `"assigned_outputs":{"inner":{}},"result":"NotReady","status":"Created"}`,
  );
  const e = serializeTask({ ...t, status: TaskStatus.Canceled, result: { kind: "Err", reason: "r" } });
  assert.match(e, /"result":\{"Err":\{"reason":"r"\}\},"status":"Canceled"\}$/);
  const ok = serializeTask({
    ...t,
    status: TaskStatus.Finished,
    result: {
      kind: "Ok",
      returnValue: Buffer.from("hi"),
      tagsMap: new Map([["o", Buffer.alloc(16)]]),
      log: ["l"],
    },
  });
  assert.match(
    ok,
    /"result":\{"Ok":\{"return_value":\[104,105\],"tags_map":\{"inner":\{"o":\{"tag":\[0(,0){15}\]\}\}\},"log":\["l"\]\}\}/,
  );
  assert.deepEqual(parseTask(ok).result, {
    kind: "Ok",
    returnValue: Buffer.from("hi"),
    tagsMap: new Map([["o", Buffer.alloc(16)]]),
    log: ["l"],
  });
});

test("cancel: early cancel, queue when staged/running, creator or admin only", () => {
  const f = fn({ inputs: [], outputs: [], arguments: [] });
  const t = create({ fn: f, functionArguments: "{}", inputsOwnership: [], outputsOwnership: [] });
  assert.throws(() => cancelTask(t, "bob", "DataOwner-"), err(7, "permission denied"));
  const c = cancelTask(t, "admin", "PlatformAdmin");
  assert.equal(c.action, "canceled");
  assert.equal(c.task.status, TaskStatus.Canceled);
  assert.deepEqual(c.task.result, { kind: "Err", reason: "Task canceled" });
  assert.throws(
    () => cancelTask(c.task, "alice", "DataOwner-"),
    err(2, "failed to cancel task, reason: task has already been canceled"),
  );
  const staged = stageTask(t);
  const q = cancelTask(staged, "alice", "DataOwner-");
  assert.equal(q.action, "queue");
  assert.equal(q.task.status, TaskStatus.Staged);
  const byUser = cancelByUser(staged);
  assert.equal(byUser.status, TaskStatus.Canceled);
  assert.deepEqual(byUser.result, { kind: "Err", reason: "Task Canceled by the user" });
  const lost = failExecutorTimeout(markRunning(staged));
  assert.equal(lost.status, TaskStatus.Failed);
  assert.deepEqual(lost.result, { kind: "Err", reason: "Runtime Error: Executor Timeout" });
});

test("quota", () => {
  checkQuota(fn({ usageQuota: null }), 1000);
  checkQuota(fn({ usageQuota: 2 }), 1);
  assert.throws(() => checkQuota(fn({ usageQuota: 2 }), 2), err(2, "function quota has been used up"));
  assert.throws(() => checkQuota(fn({ usageQuota: 0 }), 0), err(2, "function quota has been used up"));
});

test("task result wire mapping: empty message when not ready", () => {
  assert.deepEqual(taskResultToProto({ kind: "NotReady" }), {});
  assert.deepEqual(taskResultFromProto({}), { kind: "NotReady" });
  const r = taskResultFromProto({
    Ok: { returnValue: Buffer.from("x"), tagsMap: { a: Buffer.alloc(16) }, log: [] },
  });
  assert.equal(r.kind, "Ok");
  assert.deepEqual(taskResultToProto({ kind: "Err", reason: "z" }), { Err: { reason: "z" } });
});

test("task result wire mapping: a reshaping over the same bytes, identical on the wire", () => {
  const result: TaskResult = {
    kind: "Ok",
    returnValue: Buffer.from("the return value"),
    tagsMap: new Map([["out", Buffer.alloc(16, 7)]]),
    log: ["one", "two"],
  };
  const wire = taskResultToProto(result);
  assert.equal(wire.Ok?.returnValue, result.returnValue, "the return value is not copied");
  const bytes = common.TaskResult.encode(wire).finish();
  const back = taskResultFromProto(common.TaskResult.decode(bytes));
  assert.deepEqual(back, result);
  assert.deepEqual(
    Buffer.from(common.TaskResult.encode(taskResultToProto(back)).finish()),
    Buffer.from(bytes),
  );
  // A message built by hand with plain Uint8Arrays still gives Buffers.
  const plain = taskResultFromProto({
    Ok: { returnValue: new Uint8Array([1, 2]) as Buffer, tagsMap: {}, log: [] },
  });
  assert.ok(
    plain.kind === "Ok" &&
      Buffer.isBuffer(plain.returnValue) &&
      plain.returnValue.equals(Buffer.from([1, 2])),
  );
});
