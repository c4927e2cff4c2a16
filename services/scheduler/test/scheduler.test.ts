import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, test } from "node:test";
import { CloisterError } from "@cloister/core";
import {
  buildStagedTask,
  CANCEL_QUEUE,
  createTask,
  type FunctionRecord,
  keys,
  type OutputFileRecord,
  parseOutputFile,
  parseTask,
  STAGED_TASK_QUEUE,
  serializeOutputFile,
  serializeStagedTask,
  serializeTask,
  stageTask,
  TaskStatus,
} from "@cloister/model";
import { common } from "@cloister/proto";
import { LevelDbStore } from "@cloister/storage";
import { Scheduler } from "../src/index.js";

const buf = (s: string) => Buffer.from(s, "utf8");
let store: LevelDbStore;
let scheduler: Scheduler;
let clock = 1_000_000;

beforeEach(async () => {
  store = await LevelDbStore.open(mkdtempSync(join(tmpdir(), "sched-")));
  clock = 1_000_000;
  scheduler = new Scheduler({ store, heartbeatTimeoutMs: 30_000, now: () => clock });
  await scheduler.start();
});
afterEach(async () => {
  await scheduler.close();
  await store.close();
});

const fn: FunctionRecord = {
  uuid: randomUUID(),
  name: "builtin-echo",
  description: "",
  public: true,
  executorType: "builtin",
  payload: Buffer.alloc(0),
  arguments: [{ key: "message", defaultValue: "", allowOverwrite: true }],
  inputs: [],
  outputs: [{ name: "out", description: "", optional: false }],
  owner: "fo",
  userAllowlist: [],
  usageQuota: null,
};

/** A staged task as management leaves it: the record in Staged state and its JSON on the queue. */
async function stage() {
  let task = createTask({
    creator: "alice",
    role: "PlatformAdmin",
    fn,
    executor: "builtin",
    functionArguments: '{"message":"hi"}',
    inputsOwnership: [],
    outputsOwnership: [{ dataName: "out", uids: ["alice"] }],
  });
  const outUuid = randomUUID();
  const out: OutputFileRecord = {
    uuid: outUuid,
    url: "file:///tmp/x",
    crypto: { schema: "teaclave-file-128", key: Buffer.alloc(16) },
    owners: new Set(["alice"]),
    cmac: null,
  };
  task.assignedOutputs.set("out", out);
  task.status = TaskStatus.Approved;
  task = stageTask(task);
  await store.put(buf(keys.task(task.uuid)), buf(serializeTask(task)));
  await store.put(buf(keys.output(outUuid)), buf(serializeOutputFile(out)));
  await store.enqueue(buf(STAGED_TASK_QUEUE), buf(serializeStagedTask(buildStagedTask(task, fn))));
  return { uuid: task.uuid, outUuid };
}
const statusOf = async (uuid: string) =>
  parseTask((await store.get(buf(keys.task(uuid))))!.toString()).status;
const EXEC = randomUUID();

describe("scheduler", () => {
  test("a long-polling PullTask gets a task staged after it started waiting", async () => {
    const pending = scheduler.pullTask(EXEC, { waitMs: 10_000 });
    const { uuid } = await stage();
    const staged = JSON.parse((await pending).toString());
    assert.equal(staged.task_id, uuid);
  });

  test("without waiting, an empty queue is 'task queue is empty' (code 2)", async () => {
    await assert.rejects(
      scheduler.pullTask(EXEC),
      (e: unknown) => e instanceof CloisterError && e.code === 2 && e.message === "task queue is empty",
    );
  });

  test("Staged → Running → Finished with output cmac recorded", async () => {
    const { uuid, outUuid } = await stage();
    await scheduler.pullTask(EXEC, { waitMs: 1000 });
    await scheduler.updateTaskStatus(uuid);
    assert.equal(await statusOf(uuid), TaskStatus.Running);
    const tag = Buffer.alloc(16, 7);
    await scheduler.updateTaskResult(uuid, {
      kind: "Ok",
      returnValue: buf("hi"),
      tagsMap: new Map([["out", tag]]),
      log: [],
    });
    assert.equal(await statusOf(uuid), TaskStatus.Finished);
    assert.deepEqual(parseOutputFile((await store.get(buf(keys.output(outUuid))))!.toString()).cmac, tag);
    await assert.rejects(scheduler.updateTaskStatus(uuid), /Cannot restore to Run from saved state/);
  });

  test("a task canceled while queued is canceled at pull time and never handed out", async () => {
    const { uuid } = await stage();
    const task = (await store.get(buf(keys.task(uuid))))!;
    await store.enqueue(buf(CANCEL_QUEUE), task);
    // Wait until the consumer has seen it: a second heartbeat round-trip is enough in practice,
    // but we poll the durable mark instead of sleeping.
    while ((await store.keysByPrefix(buf("scheduler-cancel-"))).length === 0)
      await new Promise((r) => setImmediate(r));
    await assert.rejects(scheduler.pullTask(EXEC), /task to pull has been canceled/);
    assert.equal(await statusOf(uuid), TaskStatus.Canceled);
  });

  test("a running task's cancel wakes the node's long-polling heartbeat with Stop", async () => {
    const { uuid } = await stage();
    await scheduler.pullTask(EXEC, { waitMs: 1000 });
    await scheduler.updateTaskStatus(uuid);
    const hb = scheduler.heartbeat(EXEC, common.ExecutorStatus.Executing, { waitMs: 30_000 });
    await store.enqueue(buf(CANCEL_QUEUE), (await store.get(buf(keys.task(uuid))))!);
    assert.equal(await hb, common.ExecutorCommand.Stop);
    assert.equal(await statusOf(uuid), TaskStatus.Canceled);
    // The late result of the stopped task is dropped, the status stays Canceled.
    await scheduler.updateTaskResult(uuid, { kind: "Err", reason: "killed" });
    assert.equal(await statusOf(uuid), TaskStatus.Canceled);
  });

  test("a node that stops heart-beating has its task failed", async () => {
    const { uuid } = await stage();
    await scheduler.pullTask(EXEC, { waitMs: 1000 });
    await scheduler.updateTaskStatus(uuid);
    clock += 31_000;
    await (scheduler as unknown as { sweep(): Promise<void> }).sweep();
    const t = parseTask((await store.get(buf(keys.task(uuid))))!.toString());
    assert.equal(t.status, TaskStatus.Failed);
    assert.deepEqual(t.result, { kind: "Err", reason: "Runtime Error: Executor Timeout" });
  });

  test("bad executor status and ids are rejected with INTERNAL", async () => {
    await assert.rejects(scheduler.heartbeat(EXEC, 7), /invalid executor status/);
    await assert.rejects(
      scheduler.heartbeat("nope", 0),
      (e: unknown) => e instanceof CloisterError && e.code === 13,
    );
    assert.equal(await scheduler.heartbeat(EXEC, common.ExecutorStatus.Idle), common.ExecutorCommand.NewTask);
  });
});
