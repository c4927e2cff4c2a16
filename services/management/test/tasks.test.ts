// tasks, with two- and three-party flows at the logic level.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { parseTask, serializeTask, stagedTasks, TaskStatus, taskRecords } from "@cloister/model";
import { frontend } from "@cloister/proto";
import type { Caller, ManagementService } from "../src/index.js";
import {
  admin,
  alice,
  bob,
  carol,
  fnReq,
  fowner,
  mallory,
  NO_SUCH,
  registerInput,
  registerOutput,
  rejects,
  setup,
} from "./helpers.js";
import { CANCEL_QUEUE, keys, STAGED_TASK_QUEUE } from "./memory-store.js";

const psiFunction = (over: Partial<frontend.RegisterFunctionRequest> = {}) =>
  fnReq({
    name: "builtin-ordered-set-intersect",
    arguments: [
      { key: "order", defaultValue: "ascending", allowOverwrite: false },
      { key: "save_log", defaultValue: "false", allowOverwrite: true },
    ],
    inputs: [
      { name: "input_data1", description: "", optional: false },
      { name: "input_data2", description: "", optional: false },
    ],
    outputs: [
      { name: "output_result1", description: "", optional: false },
      { name: "output_result2", description: "", optional: false },
    ],
    ...over,
  });

const twoPartyTask = (functionId: string, over: Partial<frontend.CreateTaskRequest> = {}) =>
  frontend.CreateTaskRequest.fromPartial({
    functionId,
    functionArguments: '{"save_log": "true"}',
    executor: "builtin",
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

async function echoTask(svc: ManagementService, who: Caller = alice, quota = -1) {
  const { functionId } = await svc.registerFunction(fowner, fnReq({ usageQuota: quota }));
  const { taskId } = await svc.createTask(who, {
    functionId,
    functionArguments: '{"message": "Hello"}',
    executor: "builtin",
    inputsOwnership: [],
    outputsOwnership: [],
  });
  return { functionId, taskId };
}

describe("CreateTask", () => {
  test("check order: function id, role rule, executor, JSON, argument set, data names", async () => {
    const { svc } = setup();
    const { functionId } = await svc.registerFunction(fowner, psiFunction());
    const priv = await svc.registerFunction(fowner, psiFunction({ public: false, userAllowlist: ["bank"] }));
    await rejects(svc.createTask(alice, twoPartyTask(`function-${NO_SUCH}`)), 3, "invalid function id");
    await rejects(svc.createTask(alice, twoPartyTask("bad")), 3, "invalid function id");
    await rejects(
      svc.createTask({ id: "alice", role: "" }, twoPartyTask(functionId)),
      2,
      "missing user role",
    );
    await rejects(svc.createTask(fowner, twoPartyTask(functionId)), 7, "permission denied");
    await rejects(svc.createTask(mallory, twoPartyTask(priv.functionId)), 7, "permission denied");
    // the allowlist holds the attribute "bank": alice (DataOwner-bank) may use it, so may admin
    await svc.createTask(alice, twoPartyTask(priv.functionId));
    await svc.createTask(admin, twoPartyTask(priv.functionId));
    await rejects(
      svc.createTask(alice, twoPartyTask(functionId, { executor: "MesaPy" })),
      3,
      "Unsupported executor: MesaPy",
    );
    await rejects(
      svc.createTask(alice, twoPartyTask(functionId, { functionArguments: "" })),
      3,
      "EOF while parsing a value at line 1 column 0",
    );
    await rejects(
      svc.createTask(alice, twoPartyTask(functionId, { functionArguments: '"x"' })),
      3,
      "Cannot convert to function arguments",
    );
    await rejects(
      svc.createTask(alice, twoPartyTask(functionId, { functionArguments: "{}" })),
      3,
      "invalid task",
    );
    await rejects(
      svc.createTask(alice, twoPartyTask(functionId, { functionArguments: '{"save_log":"1","order":"x"}' })),
      3,
      "invalid task",
    );
    await rejects(
      svc.createTask(
        alice,
        twoPartyTask(functionId, { inputsOwnership: [{ dataName: "input_data1", uids: ["alice"] }] }),
      ),
      3,
      "invalid task",
    );
    await rejects(
      svc.createTask(
        alice,
        twoPartyTask(functionId, { outputsOwnership: [{ dataName: "zzz", uids: ["alice"] }] }),
      ),
      3,
      "invalid task",
    );
  });

  test("stored task: merged sorted arguments, participants, Created, result always present", async () => {
    const { svc } = setup();
    const { functionId } = await svc.registerFunction(
      fowner,
      psiFunction({ public: false, userAllowlist: ["bank"] }),
    );
    const { taskId } = await svc.createTask(
      alice,
      twoPartyTask(functionId, { functionArguments: '{"save_log": 1.0}' }),
    );
    assert.match(taskId, /^task-[0-9a-f-]{36}$/);
    const t = await svc.getTask(bob, { taskId });
    assert.equal(t.functionArguments, '{"order":"ascending","save_log":1.0}');
    assert.deepEqual(t.participants, ["alice", "bob", "fowner"]);
    assert.equal(t.functionOwner, "fowner");
    assert.equal(t.functionId, functionId);
    assert.equal(t.status, TaskStatus.Created);
    assert.deepEqual(t.result, {});
    assert.deepEqual(t.inputsOwnership, [
      { dataName: "input_data1", uids: ["alice"] },
      { dataName: "input_data2", uids: ["bob"] },
    ]);
    // wire: field 21 is always encoded, as an empty message (0xAA 0x01 0x00)
    const bytes = Buffer.from(frontend.GetTaskResponse.encode(t).finish());
    assert.ok(bytes.includes(Buffer.from([0xaa, 0x01, 0x00])));
  });
});

describe("GetTask", () => {
  test("participants only (admin not exempt); unknown → 3", async () => {
    const { svc } = setup();
    const { taskId } = await echoTask(svc);
    await rejects(svc.getTask(admin, { taskId }), 7, "permission denied");
    await rejects(svc.getTask(bob, { taskId }), 7, "permission denied");
    await rejects(svc.getTask(alice, { taskId: `task-${NO_SUCH}` }), 3, "invalid task id");
    await rejects(svc.getTask(alice, { taskId: "task-1" }), 3, "invalid task id");
    await rejects(svc.getTask({ id: "", role: "" }, { taskId }), 2, "missing user id");
  });
});

describe("AssignData", () => {
  test("rules and errors", async () => {
    const { svc, store } = setup();
    const { functionId } = await svc.registerFunction(fowner, psiFunction());
    const { taskId } = await svc.createTask(alice, twoPartyTask(functionId));
    const in1 = await registerInput(svc, alice);
    const out1 = await registerOutput(svc, alice);
    const bobIn = await registerInput(svc, bob);
    const assign = (c: Caller, inputs: Array<[string, string]>, outputs: Array<[string, string]> = []) =>
      svc.assignData(c, {
        taskId,
        inputs: inputs.map(([dataName, dataId]) => ({ dataName, dataId })),
        outputs: outputs.map(([dataName, dataId]) => ({ dataName, dataId })),
      });
    await rejects(
      svc.assignData(alice, { taskId: `task-${NO_SUCH}`, inputs: [], outputs: [] }),
      3,
      "invalid task id",
    );
    await rejects(assign(mallory, []), 7, "permission denied");
    await rejects(assign(alice, [["input_data1", "garbage"]]), 3, "Invalid external id: garbage");
    await rejects(assign(alice, [["input_data1", out1]]), 3, "invalid data id");
    await rejects(assign(alice, [["input_data1", `input-${NO_SUCH}`]]), 3, "invalid data id");
    await rejects(assign(alice, [["input_data1", bobIn]]), 7, "permission denied"); // caller not an owner
    await rejects(assign(bob, [["input_data1", bobIn]]), 7, "permission denied"); // owners differ from declared
    await rejects(assign(alice, [["nope", in1]]), 7, "permission denied");
    // all-or-nothing
    const before = store.text(keys.task(taskId.slice(5)));
    await rejects(
      assign(alice, [
        ["input_data1", in1],
        ["input_data2", in1],
      ]),
      7,
      "permission denied",
    );
    assert.equal(store.text(keys.task(taskId.slice(5))), before);
    // output that already has a cmac is rejected
    const produced = await registerOutput(svc, alice);
    const { parseOutputFile, serializeOutputFile } = await import("@cloister/model");
    const rec = parseOutputFile(store.text(keys.output(produced.slice(7)))!);
    store.map.set(
      keys.output(rec.uuid),
      Buffer.from(serializeOutputFile({ ...rec, cmac: Buffer.alloc(16) })),
    );
    await rejects(assign(alice, [], [["output_result1", produced]]), 7, "permission denied");

    await assign(alice, [["input_data1", in1]], [["output_result1", out1]]);
    assert.equal((await svc.getTask(alice, { taskId })).status, TaskStatus.Created);
    await rejects(assign(alice, [["input_data1", in1]]), 7, "permission denied"); // already assigned
  });
});

describe("two-party flow", () => {
  test("create with ownership lists, assign by each owner, approve by each, invoke → staged-task JSON", async () => {
    const { svc, store } = setup();
    const { functionId } = await svc.registerFunction(fowner, psiFunction());
    const { taskId } = await svc.createTask(alice, twoPartyTask(functionId));
    const in1 = await registerInput(svc, alice, "http://files/a.enc");
    const out1 = await registerOutput(svc, alice, "http://files/a.out");
    const in2 = await registerInput(svc, bob, "http://files/b.enc");
    const out2 = await registerOutput(svc, bob, "http://files/b.out");

    await rejects(svc.approveTask(alice, { taskId }), 2, "failed to approve task");
    await svc.assignData(alice, {
      taskId,
      inputs: [{ dataName: "input_data1", dataId: in1 }],
      outputs: [{ dataName: "output_result1", dataId: out1 }],
    });
    await rejects(svc.invokeTask(alice, { taskId }), 2, "failed to invoke task");
    await svc.assignData(bob, {
      taskId,
      inputs: [{ dataName: "input_data2", dataId: in2 }],
      outputs: [{ dataName: "output_result2", dataId: out2 }],
    });
    let t = await svc.getTask(alice, { taskId });
    assert.equal(t.status, TaskStatus.DataAssigned);
    assert.deepEqual(t.assignedInputs, [
      { dataName: "input_data1", dataId: in1 },
      { dataName: "input_data2", dataId: in2 },
    ]);
    await rejects(
      svc.assignData(alice, { taskId, inputs: [], outputs: [] }),
      2,
      "failed to assign data to task",
    );
    await rejects(svc.approveTask(mallory, { taskId }), 7, "permission denied");
    await svc.approveTask(alice, { taskId });
    await rejects(svc.invokeTask(alice, { taskId }), 2, "failed to invoke task");
    await svc.approveTask(bob, { taskId });
    t = await svc.getTask(bob, { taskId });
    assert.equal(t.status, TaskStatus.Approved);
    assert.deepEqual(t.approvedUsers, ["alice", "bob"]);
    await rejects(svc.approveTask(bob, { taskId }), 2, "failed to approve task");
    await rejects(svc.invokeTask(bob, { taskId }), 7, "permission denied");

    await svc.invokeTask(alice, { taskId });
    assert.equal((await svc.getTask(alice, { taskId })).status, TaskStatus.Staged);
    assert.deepEqual(await svc.getFunctionUsageStats(alice, { functionId }), {
      functionQuota: -1,
      currentUsage: 1,
    });
    const staged = store.queue(STAGED_TASK_QUEUE);
    assert.equal(staged.length, 1);
    const key = `[${Array(16).fill(1).join(",")}]`;
    const iv = `[${Array(12).fill(2).join(",")}]`;
    const tag = `[${Array(16).fill(4).join(",")}]`;
    const fkey = `[${Array(16).fill(3).join(",")}]`;
    // Queued compact (codec version 2); a legacy node gets exactly the legacy text.
    assert.ok(staged[0]!.startsWith('{"v":2,"task_id":'));
    assert.equal(
      stagedTasks.inVersion(Buffer.from(staged[0]!), 1).toString(),
      `{"task_id":"${taskId.slice(5)}","function_id":"${functionId.slice(9)}","user_id":"alice","executor":"Builtin",` +
        `"executor_type":"Builtin","function_name":"builtin-ordered-set-intersect",` +
        `"function_arguments":{"inner":{"order":"ascending","save_log":"true"}},"function_payload":[],` +
        `"input_data":{"inner":{"input_data1":{"url":"http://files/a.enc","cmac":{"tag":${tag}},"crypto_info":{"AesGcm128":{"key":${key},"iv":${iv}}},"owner":{"uids":["alice"]}},` +
        `"input_data2":{"url":"http://files/b.enc","cmac":{"tag":${tag}},"crypto_info":{"AesGcm128":{"key":${key},"iv":${iv}}},"owner":{"uids":["bob"]}}}},` +
        `"output_data":{"inner":{"output_result1":{"url":"http://files/a.out","crypto_info":{"TeaclaveFile128":{"key":${fkey}}},"owner":{"uids":["alice"]}},` +
        `"output_result2":{"url":"http://files/b.out","crypto_info":{"TeaclaveFile128":{"key":${fkey}}},"owner":{"uids":["bob"]}}}}}`,
    );
    await rejects(svc.invokeTask(alice, { taskId }), 2, "failed to invoke task");
  });
});

describe("three-party flow with a private function and a fusion output", () => {
  test("function owner is a participant and must approve", async () => {
    const { svc, store } = setup();
    const manager = carol; // DataOwnerManager-hospital
    const { functionId } = await svc.registerFunction(
      fowner,
      fnReq({
        name: "builtin-private-join-and-compute",
        public: false,
        userAllowlist: ["hospital", "bank"],
        arguments: [{ key: "num_user", defaultValue: "", allowOverwrite: true }],
        inputs: [
          { name: "input_data0", description: "", optional: false },
          { name: "input_data1", description: "", optional: false },
        ],
        outputs: [{ name: "output_data", description: "", optional: false }],
      }),
    );
    const fusion = await svc.registerFusionOutput(alice, { ownerList: ["alice", "carol"] });
    const { taskId } = await svc.createTask(manager, {
      functionId,
      functionArguments: '{"num_user": 2}',
      executor: "builtin",
      inputsOwnership: [
        { dataName: "input_data0", uids: ["alice"] },
        { dataName: "input_data1", uids: ["carol"] },
      ],
      outputsOwnership: [{ dataName: "output_data", uids: ["carol", "alice"] }],
    });
    const t0 = await svc.getTask(fowner, { taskId });
    assert.deepEqual(t0.participants, ["alice", "carol", "fowner"]);
    assert.equal(t0.functionArguments, '{"num_user":2}');
    await svc.assignData(alice, {
      taskId,
      inputs: [{ dataName: "input_data0", dataId: await registerInput(svc, alice) }],
      outputs: [],
    });
    await svc.assignData(carol, {
      taskId,
      inputs: [{ dataName: "input_data1", dataId: await registerInput(svc, carol) }],
      outputs: [{ dataName: "output_data", dataId: fusion.dataId }],
    });
    for (const who of [alice, carol]) await svc.approveTask(who, { taskId });
    assert.equal((await svc.getTask(alice, { taskId })).status, TaskStatus.DataAssigned);
    await rejects(svc.invokeTask(carol, { taskId }), 2, "failed to invoke task");
    await svc.approveTask(fowner, { taskId });
    assert.equal((await svc.getTask(alice, { taskId })).status, TaskStatus.Approved);
    await svc.invokeTask(carol, { taskId });
    const staged = JSON.parse(store.queue(STAGED_TASK_QUEUE)[0]!);
    assert.equal(staged.user_id, "carol");
    assert.match(staged.output_data.inner.output_data.url, /^fusion:\/\/\/TEACLAVE_FUSION_BASE\/.*\.fusion$/);
    assert.deepEqual(staged.function_arguments, { inner: { num_user: 2 } });
  });
});

describe("ApproveTask", () => {
  test("creator + private function owner approving at the same time", async () => {
    const { svc } = setup();
    const priv = await svc.registerFunction(
      fowner,
      fnReq({ arguments: [], public: false, userAllowlist: ["bank"] }),
    );
    const { taskId } = await svc.createTask(alice, {
      functionId: priv.functionId,
      functionArguments: "{}",
      executor: "builtin",
      inputsOwnership: [],
      outputsOwnership: [],
    });
    await rejects(svc.approveTask(alice, { taskId: "x" }), 3, "invalid task id");
    await rejects(svc.approveTask(bob, { taskId }), 7, "permission denied");
    // Created without data: all data is trivially assigned, so approval is possible.
    await Promise.all([svc.approveTask(alice, { taskId }), svc.approveTask(fowner, { taskId })]);
    const t = await svc.getTask(fowner, { taskId });
    assert.deepEqual(t.approvedUsers, ["alice", "fowner"]);
    assert.equal(t.status, TaskStatus.Approved);
  });

  test("a single participant's task goes straight to Approved", async () => {
    const { svc } = setup();
    const { taskId } = await echoTask(svc);
    await svc.approveTask(alice, { taskId });
    assert.equal((await svc.getTask(alice, { taskId })).status, TaskStatus.Approved);
  });

  test("five participants approving at once", async () => {
    const { svc, store } = setup();
    const users = ["u1", "u2", "u3", "u4", "u5"].map((id) => ({ id, role: "DataOwner-" }));
    const { functionId } = await svc.registerFunction(
      fowner,
      fnReq({ arguments: [], inputs: [{ name: "in", description: "", optional: false }] }),
    );
    const { taskId } = await svc.createTask(users[0]!, {
      functionId,
      functionArguments: "{}",
      executor: "builtin",
      inputsOwnership: [{ dataName: "in", uids: users.map((u) => u.id) }],
      outputsOwnership: [],
    });
    const fusion = await svc.registerFusionOutput(users[0]!, { ownerList: users.map((u) => u.id) });
    // an input owned by all five: convert a produced fusion output
    const { parseOutputFile, serializeOutputFile } = await import("@cloister/model");
    const rec = parseOutputFile(store.text(keys.output(fusion.dataId.slice(7)))!);
    store.map.set(
      keys.output(rec.uuid),
      Buffer.from(serializeOutputFile({ ...rec, cmac: Buffer.alloc(16) })),
    );
    const { dataId } = await svc.registerInputFromOutput(users[2]!, { dataId: fusion.dataId });
    await svc.assignData(users[3]!, { taskId, inputs: [{ dataName: "in", dataId }], outputs: [] });
    await Promise.all(users.map((u) => svc.approveTask(u, { taskId })));
    const t = await svc.getTask(users[4]!, { taskId });
    assert.deepEqual(t.approvedUsers, ["u1", "u2", "u3", "u4", "u5"]);
    assert.equal(t.status, TaskStatus.Approved);
  });
});

describe("InvokeTask", () => {
  test("single participant without data needs nothing else; quota", async () => {
    const { svc, store } = setup();
    const { functionId, taskId } = await echoTask(svc, alice, 1);
    await rejects(svc.invokeTask(bob, { taskId }), 7, "permission denied");
    await rejects(svc.invokeTask(alice, { taskId: `task-${NO_SUCH}` }), 3, "invalid task id");
    await svc.invokeTask(alice, { taskId });
    const s = JSON.parse(store.queue(STAGED_TASK_QUEUE)[0]!);
    assert.deepEqual(s.function_arguments, { inner: { message: "Hello" } });
    assert.deepEqual(s.input_data, { inner: {} });
    const { taskId: second } = await svc.createTask(alice, {
      functionId,
      functionArguments: '{"message": "again"}',
      executor: "builtin",
      inputsOwnership: [],
      outputsOwnership: [],
    });
    await rejects(svc.invokeTask(alice, { taskId: second }), 2, "function quota has been used up");
    assert.equal((await svc.getTask(alice, { taskId: second })).status, TaskStatus.Created);
  });

  test("quota 0 can never run; deleted function → invalid function id; current definition is used", async () => {
    const { svc, store } = setup();
    const z = await echoTask(svc, alice, 0);
    await rejects(svc.invokeTask(alice, { taskId: z.taskId }), 2, "function quota has been used up");
    const d = await echoTask(svc, alice);
    await svc.deleteFunction(fowner, { functionId: d.functionId });
    await rejects(svc.invokeTask(alice, { taskId: d.taskId }), 3, "invalid function id");
    const u = await echoTask(svc, alice);
    await svc.updateFunction(fowner, {
      ...fnReq({ name: "renamed", payload: Buffer.from([7]) }),
      functionId: u.functionId,
    });
    await svc.invokeTask(alice, { taskId: u.taskId });
    const s = JSON.parse(store.queue(STAGED_TASK_QUEUE).at(-1)!);
    assert.equal(s.function_name, "renamed");
    assert.deepEqual(
      stagedTasks.decode(store.queue(STAGED_TASK_QUEUE).at(-1)!).functionPayload,
      Buffer.from([7]),
    );
  });
});

describe("CancelTask", () => {
  test("early cancel, queued cancel, permissions, ended", async () => {
    const { svc, store } = setup();
    const a = await echoTask(svc);
    await rejects(svc.cancelTask(bob, { taskId: a.taskId }), 7, "permission denied");
    await rejects(svc.cancelTask({ id: "alice", role: "" }, { taskId: a.taskId }), 2, "missing user role");
    await svc.cancelTask(alice, { taskId: a.taskId });
    const t = await svc.getTask(alice, { taskId: a.taskId });
    assert.equal(t.status, TaskStatus.Canceled);
    assert.deepEqual(t.result, { Err: { reason: "Task canceled" } });
    await rejects(
      svc.cancelTask(alice, { taskId: a.taskId }),
      2,
      "failed to cancel task, reason: task has already been canceled",
    );
    const b = await echoTask(svc);
    await svc.invokeTask(alice, { taskId: b.taskId });
    await svc.cancelTask(admin, { taskId: b.taskId });
    await svc.cancelTask(alice, { taskId: b.taskId });
    assert.equal((await svc.getTask(alice, { taskId: b.taskId })).status, TaskStatus.Staged);
    const q = store.queue(CANCEL_QUEUE);
    assert.equal(q.length, 2);
    const queued = parseTask(q[0]!);
    assert.equal(queued.uuid, b.taskId.slice(5));
    assert.equal(q[0], taskRecords.encode(queued).toString());
    // Finished tasks cannot be canceled either.
    const stored = parseTask(store.text(keys.task(b.taskId.slice(5)))!);
    store.map.set(
      keys.task(stored.uuid),
      Buffer.from(
        serializeTask({ ...stored, status: TaskStatus.Finished, result: { kind: "Err", reason: "boom" } }),
      ),
    );
    await rejects(
      svc.cancelTask(alice, { taskId: b.taskId }),
      2,
      "failed to cancel task, reason: task has already been canceled",
    );
    assert.deepEqual((await svc.getTask(alice, { taskId: b.taskId })).result, { Err: { reason: "boom" } });
  });
});
