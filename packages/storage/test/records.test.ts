// The typed store and the management → scheduler hand-off, over a real (sealed) LevelDB.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import {
  buildStagedTask,
  createTask,
  FunctionId,
  type FunctionRecord,
  functionRecords,
  RecordFormatError,
  schedulerStatusRecords,
  serializeFunction,
  serializeStagedTask,
  stagedTasks,
  TaskId,
  taskLogRecords,
  taskRecords,
  usageRecords,
} from "@cloister/model";
import {
  handoffQueues,
  LevelDbStore,
  RecordStore,
  SealedStore,
  TaskIntake,
  TaskStaging,
} from "../src/index.js";

let dir: string;
let store: SealedStore;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), "cloister-records-"));
  store = new SealedStore(await LevelDbStore.open(join(dir, "db")), randomBytes(32));
});
after(async () => {
  await store.close();
  await rm(dir, { recursive: true, force: true });
});

const fnId = FunctionId.create();
const fn: FunctionRecord = {
  uuid: fnId,
  name: "builtin-echo",
  description: "",
  public: true,
  executorType: "builtin",
  payload: Buffer.from("payload bytes"),
  arguments: [{ key: "message", defaultValue: "", allowOverwrite: true }],
  inputs: [],
  outputs: [],
  owner: "alice",
  userAllowlist: [],
  usageQuota: null,
};

test("RecordStore: get / find / put / delete / list / transaction by record type", async () => {
  const records = new RecordStore(store);
  assert.equal(await records.get(functionRecords, fnId), undefined);
  await records.put(functionRecords, fnId, fn);
  assert.deepEqual(await records.get(functionRecords, fnId), fn);
  // Written compact, under the record type's key.
  const raw = await store.get(Buffer.from(`function-${fnId}`));
  assert.ok(raw?.toString().startsWith('{"v":2,'));
  assert.deepEqual(await records.list(functionRecords), [fnId]);
  // A record written in the legacy format still reads.
  const other = FunctionId.create();
  await store.put(functionRecords.key(other), Buffer.from(serializeFunction({ ...fn, uuid: other })));
  assert.deepEqual((await records.get(functionRecords, other))?.payload, fn.payload);
  // Damage: get says so, find treats it as missing.
  await store.put(functionRecords.key(other), Buffer.from('{"v":2,"id":1}'));
  await assert.rejects(records.get(functionRecords, other), RecordFormatError);
  assert.equal(await records.find(functionRecords, other), undefined);
  // A transaction is all or nothing, across types.
  await records.commit(
    records
      .transaction()
      .put(usageRecords, fnId, { functionUuid: fnId, useNumbers: 3 })
      .delete(functionRecords, other),
  );
  assert.equal((await records.get(usageRecords, fnId))?.useNumbers, 3);
  assert.equal(await records.get(functionRecords, other), undefined);
  await records.delete(functionRecords, fnId);
  assert.deepEqual(await records.list(functionRecords), []);
});

test("RecordStore: backend failures go through onFailure, record damage does not", async () => {
  const broken = {
    get: async () => {
      throw new Error("disk on fire");
    },
    put: async () => undefined,
    delete: async () => undefined,
    keysByPrefix: async () => [],
    batch: async () => undefined,
  };
  const seen: string[] = [];
  const records = new RecordStore(broken, {
    onFailure: (_e, what) => {
      seen.push(what);
      return new Error("mapped");
    },
  });
  await assert.rejects(records.get(functionRecords, fnId), /mapped/);
  assert.deepEqual(seen, ["get function"]);
});

test("RecordStore: waitForChange follows one record by digest, decoded", async () => {
  const records = new RecordStore(store);
  const id = FunctionId.create();
  const first = await records.waitForChange(functionRecords, id, Buffer.alloc(0), 1000);
  assert.ok(first && first.record === undefined, "an empty digest answers at once, absent included");
  assert.equal(await records.waitForChange(functionRecords, id, first.digest, 50), undefined);
  const waiting = records.waitForChange(functionRecords, id, first.digest, 5000);
  await records.put(functionRecords, id, { ...fn, uuid: id });
  const changed = await waiting;
  assert.equal(changed?.record?.uuid, id);
  assert.ok(changed && !changed.digest.equals(first.digest));
  await store.put(functionRecords.key(id), Buffer.from('{"v":2,"id":1}'));
  await assert.rejects(records.waitForChange(functionRecords, id, changed.digest, 1000), RecordFormatError);
  // A backend with neither a long poll nor key watches says so instead of polling.
  const plain = new RecordStore({
    get: async () => undefined,
    put: async () => undefined,
    delete: async () => undefined,
    keysByPrefix: async () => [],
    batch: async () => undefined,
  });
  await assert.rejects(plain.waitForChange(functionRecords, id, Buffer.alloc(0), 10), TypeError);
});

test("RecordStore: the task log and the scheduler status are typed, their stored JSON unchanged", async () => {
  const records = new RecordStore(store);
  const id = TaskId.create();
  const log = { lines: ["a", "b"], bytes: 2, truncated: false };
  await records.put(taskLogRecords, id, log);
  assert.deepEqual(JSON.parse((await store.get(taskLogRecords.key(id)))!.toString()), log);
  assert.deepEqual(await records.get(taskLogRecords, id), log);
  await store.put(taskLogRecords.key(id), Buffer.from('{"lines":[1]}'));
  await assert.rejects(records.get(taskLogRecords, id), RecordFormatError);
  const snapshot = { at: 1, queueDepth: 2, runningTasks: 0, nodes: [] };
  await records.put(schedulerStatusRecords, "scheduler", snapshot);
  assert.deepEqual(JSON.parse((await store.get(Buffer.from("status-scheduler")))!.toString()), snapshot);
  assert.deepEqual(await records.get(schedulerStatusRecords, "scheduler"), snapshot);
});

test("hand-off: management stages atomically with its writes, the scheduler claims, requeues and reads cancels", async () => {
  const records = new RecordStore(store);
  const staging = new TaskStaging(store);
  const intake = new TaskIntake(store);
  const task = createTask({
    creator: "alice",
    role: "PlatformAdmin",
    fn,
    executor: "builtin",
    functionArguments: '{"message":"hi"}',
    inputsOwnership: [],
    outputsOwnership: [],
  });
  const staged = buildStagedTask(task, fn);
  await staging.stage(staged, records.transaction().put(taskRecords, task.uuid, task));
  assert.deepEqual(await records.get(taskRecords, task.uuid), task);

  const claim = Buffer.from("scheduler-claim-1");
  const element = await intake.claim(claim, 1000);
  assert.ok(element);
  assert.equal(intake.taskIdOf(element), task.uuid);
  assert.deepEqual(stagedTasks.decode(element), staged);
  // A legacy node gets the legacy text.
  assert.equal(stagedTasks.inVersion(element, 1).toString(), serializeStagedTask(staged));
  // The claim holds it until the scheduler puts it back (atomically with deleting the claim).
  assert.ok(await store.get(claim));
  await intake.requeue(element, [{ type: "del", key: claim }]);
  assert.equal(await store.get(claim), undefined);
  assert.equal(intake.taskIdOf((await intake.claim(claim, 1000))!), task.uuid);

  // PublishTask (legacy) checks what it queues; a legacy staged task is accepted.
  await assert.rejects(intake.publish(Buffer.from("{}")), RecordFormatError);
  await intake.publish(Buffer.from(serializeStagedTask(staged)));
  assert.equal(intake.taskIdOf((await intake.claim(Buffer.from("scheduler-claim-2"), 1000))!), task.uuid);

  await staging.requestCancel(task);
  assert.equal(await intake.nextCancel(1000), task.uuid);
  assert.equal(await intake.nextCancel(10), undefined);
  await store.enqueue(Buffer.from(handoffQueues.cancel), Buffer.from("not a task"));
  await assert.rejects(intake.nextCancel(1000), RecordFormatError);
  assert.equal(TaskId.external(task.uuid), `task-${task.uuid}`);
});
