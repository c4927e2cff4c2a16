import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { getEventListeners } from "node:events";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, test } from "node:test";
import { CloisterError } from "@cloister/core";
import {
  buildStagedTask,
  createTask,
  type FunctionRecord,
  type OutputFileRecord,
  OutputId,
  outputRecords,
  parseOutputFile,
  parseTask,
  serializeOutputFile,
  serializeStagedTask,
  serializeTask,
  stageTask,
  TaskId,
  TaskStatus,
  taskRecords,
} from "@cloister/model";
import { common } from "@cloister/proto";
import {
  type BatchOp,
  type ClaimedTask,
  claimWithTaskRecord,
  handoffQueues,
  LevelDbStore,
} from "@cloister/storage";
import { Scheduler } from "../src/index.js";

const buf = (s: string) => Buffer.from(s, "utf8");
const STAGED_TASK_QUEUE = handoffQueues.staged;
const CANCEL_QUEUE = handoffQueues.cancel;
const keys = {
  task: (uuid: string) => taskRecords.key(TaskId.fromUuid(uuid)).toString(),
  output: (uuid: string) => outputRecords.key(OutputId.fromUuid(uuid)).toString(),
};
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
const sweep = () => (scheduler as unknown as { sweep(): Promise<void> }).sweep();
const ok = () => ({
  kind: "Ok" as const,
  returnValue: buf("hi"),
  tagsMap: new Map([["out", Buffer.alloc(16, 7)]]),
  log: [],
});

describe("scheduler", () => {
  test("a long-polling PullTask gets a task staged after it started waiting", async () => {
    const pending = scheduler.pullTask(EXEC, { waitMs: 10_000 });
    const { uuid } = await stage();
    const handed = await pending;
    assert.equal(JSON.parse(handed.stagedTask.toString()).task_id, uuid);
    assert.equal(handed.generation, 1);
  });

  test("without waiting, an empty queue is 'task queue is empty' (code 2)", async () => {
    await assert.rejects(
      scheduler.pullTask(EXEC),
      (e: unknown) => e instanceof CloisterError && e.code === 2 && e.message === "task queue is empty",
    );
  });

  test("Staged → Running → Finished with output cmac recorded", async () => {
    const { uuid, outUuid } = await stage();
    const h = await scheduler.pullTask(EXEC, { waitMs: 1000 });
    await scheduler.updateTaskStatus(uuid, h.generation);
    assert.equal(await statusOf(uuid), TaskStatus.Running);
    const tag = Buffer.alloc(16, 7);
    await scheduler.updateTaskResult(
      uuid,
      { kind: "Ok", returnValue: buf("hi"), tagsMap: new Map([["out", tag]]), log: [] },
      h.generation,
    );
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

  test("a lost node's task is re-queued under a new generation; the old holder is fenced off", async () => {
    const { uuid } = await stage();
    const first = await scheduler.pullTask(EXEC, { waitMs: 1000 });
    await scheduler.updateTaskStatus(uuid, first.generation);
    clock += 31_000;
    await sweep();
    assert.equal(await statusOf(uuid), TaskStatus.Running); // not failed: back on the queue
    const other = randomUUID();
    const second = await scheduler.pullTask(other, { waitMs: 1000 });
    assert.equal(JSON.parse(second.stagedTask.toString()).task_id, uuid);
    assert.equal(second.generation, first.generation + 1);
    await scheduler.updateTaskStatus(uuid, second.generation); // Running stays Running
    // The first node comes back: its calls quote a stale lease.
    const isStale = (e: unknown) => e instanceof CloisterError && e.code === 9;
    await assert.rejects(scheduler.updateTaskStatus(uuid, first.generation), isStale);
    await assert.rejects(
      scheduler.updateTaskResult(uuid, { kind: "Err", reason: "x" }, first.generation),
      isStale,
    );
    assert.equal(
      await scheduler.heartbeat(EXEC, common.ExecutorStatus.Executing, {
        runningTask: uuid,
        generation: first.generation,
      }),
      common.ExecutorCommand.Stop,
    );
    await scheduler.updateTaskResult(uuid, ok(), second.generation);
    assert.equal(await statusOf(uuid), TaskStatus.Finished);
    // The same report again (its answer was lost) is accepted without effect.
    await scheduler.updateTaskResult(uuid, ok(), second.generation);
    assert.deepEqual(await store.keysByPrefix(buf("scheduler-lease-")), []);
    assert.deepEqual(await store.keysByPrefix(buf("scheduler-claim-")), []);
  });

  test("after the last attempt an expired lease fails the task with a clear reason", async () => {
    const { uuid } = await stage();
    for (let i = 0; i < 3; i++) {
      const h = await scheduler.pullTask(randomUUID(), { waitMs: 1000 });
      assert.equal(h.generation, i + 1);
      clock += 31_000; // handed over and never reported Running
      await sweep();
    }
    const t = parseTask((await store.get(buf(keys.task(uuid))))!.toString());
    assert.equal(t.status, TaskStatus.Failed);
    assert.equal(t.result.kind, "Err");
    assert.match(
      t.result.kind === "Err" ? t.result.reason : "",
      /^Runtime Error: Executor Timeout \(handed .* 3 times/,
    );
    await assert.rejects(scheduler.pullTask(EXEC), /task queue is empty/);
  });

  test("leases and the node table survive a scheduler restart", async () => {
    const { uuid } = await stage();
    const h = await scheduler.pullTask(EXEC, { waitMs: 1000 });
    await scheduler.updateTaskStatus(uuid, h.generation);
    await scheduler.close();
    clock += 60_000; // longer than the node timeout, but the new scheduler grants a fresh period
    scheduler = new Scheduler({ store, heartbeatTimeoutMs: 30_000, now: () => clock });
    await scheduler.start();
    assert.equal(scheduler.snapshot().nodes, 1);
    await sweep();
    assert.equal(
      await scheduler.heartbeat(EXEC, common.ExecutorStatus.Executing, {
        runningTask: uuid,
        generation: h.generation,
      }),
      common.ExecutorCommand.NoAction,
    );
    await scheduler.updateTaskResult(uuid, ok(), h.generation);
    assert.equal(await statusOf(uuid), TaskStatus.Finished);
  });

  test("a node that never comes back after a restart loses its lease; the task runs elsewhere", async () => {
    const { uuid } = await stage();
    await scheduler.pullTask(EXEC, { waitMs: 1000 });
    await scheduler.close();
    scheduler = new Scheduler({ store, heartbeatTimeoutMs: 30_000, now: () => clock });
    await scheduler.start();
    clock += 31_000;
    await sweep();
    const h = await scheduler.pullTask(randomUUID(), { waitMs: 1000 });
    assert.equal(JSON.parse(h.stagedTask.toString()).task_id, uuid);
    assert.equal(h.generation, 2);
  });

  test("a claim left without a lease (crash between dequeue and lease) goes back to the queue", async () => {
    const { uuid } = await stage();
    const item = await store.dequeueInto(buf(STAGED_TASK_QUEUE), buf(`scheduler-claim-${randomUUID()}`), 0);
    assert.ok(item);
    await sweep();
    assert.deepEqual(await store.keysByPrefix(buf("scheduler-claim-")).then((k) => k.length), 0);
    const h = await scheduler.pullTask(EXEC, { waitMs: 1000 });
    assert.equal(JSON.parse(h.stagedTask.toString()).task_id, uuid);
  });

  test("a second copy of a leased task on the queue is dropped, not handed out", async () => {
    const { uuid } = await stage();
    const copy = (await store.dequeue(buf(STAGED_TASK_QUEUE)))!;
    await store.enqueue(buf(STAGED_TASK_QUEUE), copy);
    await store.enqueue(buf(STAGED_TASK_QUEUE), copy);
    const h = await scheduler.pullTask(EXEC, { waitMs: 1000 });
    assert.equal(JSON.parse(h.stagedTask.toString()).task_id, uuid);
    await assert.rejects(scheduler.pullTask(randomUUID()), /task queue is empty/);
  });

  test("bad executor status and ids are rejected with INTERNAL", async () => {
    await assert.rejects(scheduler.heartbeat(EXEC, 7), /invalid executor status/);
    await assert.rejects(
      scheduler.heartbeat("nope", 0),
      (e: unknown) => e instanceof CloisterError && e.code === 13,
    );
    assert.equal(await scheduler.heartbeat(EXEC, common.ExecutorStatus.Idle), common.ExecutorCommand.NewTask);
  });

  test("a claim carries the task record: the hand-over reads no task record", async () => {
    const reads: string[] = [];
    const backend = new Proxy(store, {
      get(target, prop) {
        // The storage service's client: claims carry the record, leases are a write of their own.
        if (prop === "dequeueIntoWith") return undefined;
        if (prop === "dequeueIntoWithTaskRecord")
          return (q: Buffer, k: Buffer, ms: number, signal?: AbortSignal) =>
            claimWithTaskRecord(target, q, k, ms, signal);
        const v = Reflect.get(target, prop, target);
        if (prop === "get")
          return (key: Buffer) => {
            reads.push(key.toString());
            return target.get(key);
          };
        return typeof v === "function" ? v.bind(target) : v;
      },
    });
    const s2 = new Scheduler({ store: backend });
    await s2.start();
    try {
      const { uuid } = await stage();
      const h = await s2.pullTask(EXEC, { waitMs: 1000, markRunning: true });
      assert.equal(h.running, true);
      assert.equal(await statusOf(uuid), TaskStatus.Running);
      await s2.updateTaskResult(uuid, ok(), h.generation);
      assert.equal(await statusOf(uuid), TaskStatus.Finished);
      assert.deepEqual(
        reads.filter((k) => k === keys.task(uuid)),
        [],
      );
    } finally {
      await s2.close();
    }
  });

  test("a carried record a write of ours may have crossed is read again (a late copy of a finished task is dropped)", async () => {
    // While `held`, a claim's answer waits for `release` after the record was read: it then
    // predates whatever the scheduler writes meanwhile.
    let held: { claimed: () => void } | undefined;
    let release: () => void = () => undefined;
    const backend = new Proxy(store, {
      get(target, prop) {
        if (prop === "dequeueIntoWith") return undefined;
        if (prop === "dequeueIntoWithTaskRecord")
          return async (
            q: Buffer,
            k: Buffer,
            ms: number,
            signal?: AbortSignal,
          ): Promise<ClaimedTask | undefined> => {
            const c = await claimWithTaskRecord(target, q, k, ms, signal);
            const hold = held;
            if (c && hold)
              await new Promise<void>((r) => {
                release = r;
                hold.claimed();
              });
            return c;
          };
        const v = Reflect.get(target, prop, target);
        return typeof v === "function" ? v.bind(target) : v;
      },
    });
    const s2 = new Scheduler({ store: backend });
    await s2.start();
    try {
      const { uuid } = await stage();
      const copy = (await store.dequeue(buf(STAGED_TASK_QUEUE)))!;
      await store.enqueue(buf(STAGED_TASK_QUEUE), copy);
      const hA = await s2.pullTask(randomUUID(), { waitMs: 1000, markRunning: true });
      // A second copy (a re-queue whose answer was lost), claimed by B while A runs.
      await store.enqueue(buf(STAGED_TASK_QUEUE), copy);
      const claimed = new Promise<void>((r) => {
        held = { claimed: r };
      });
      const pullB = s2.pullTask(randomUUID(), { waitMs: 300, markRunning: true });
      await claimed;
      held = undefined;
      // B's claim read the record while Running; A's result lands before B's answer does.
      await s2.updateTaskResult(uuid, ok(), hA.generation);
      release();
      await assert.rejects(pullB, /task queue is empty/);
      assert.equal(await statusOf(uuid), TaskStatus.Finished);
    } finally {
      await s2.close();
    }
  });
});

describe("a claim and its lease in one write (a backend that adds writes to a claim)", () => {
  type Hooked = { writeBatch: (ops: readonly BatchOp[]) => Promise<void> };
  const hook = (fn: (ops: readonly BatchOp[], write: () => Promise<void>) => Promise<void>) => {
    const s = store as unknown as Hooked;
    const original = s.writeBatch.bind(s);
    s.writeBatch = (ops) => fn(ops, () => original(ops));
    return () => {
      s.writeBatch = original;
    };
  };
  const keysOf = (ops: readonly BatchOp[]) => ops.map((o) => `${o.type} ${o.key.toString("latin1")}`);

  test("the queue slot, the claim, the lease and the Running record go in one LevelDB write", async () => {
    const { uuid } = await stage();
    const batches: string[][] = [];
    const unhook = hook((ops, write) => {
      batches.push(keysOf(ops));
      return write();
    });
    try {
      const h = await scheduler.pullTask(EXEC, { waitMs: 1000, markRunning: true });
      assert.equal(h.running, true);
      assert.equal(h.generation, 1);
    } finally {
      unhook();
    }
    const withLease = batches.filter((b) => b.some((k) => k.startsWith(`put scheduler-lease-${uuid}`)));
    assert.equal(withLease.length, 1, JSON.stringify(batches));
    const one = withLease[0]!;
    assert.ok(one.some((k) => k.startsWith("put scheduler-claim-")));
    assert.ok(one.some((k) => k === `put ${keys.task(uuid)}`));
    assert.ok(one.some((k) => k.startsWith("del queue-")));
    assert.equal(await statusOf(uuid), TaskStatus.Running);
  });

  test("a failed claim write leaves the task queued with no lease nor claim, and its lock free", async () => {
    const { uuid } = await stage();
    const unhook = hook((ops, write) =>
      keysOf(ops).some((k) => k.startsWith("put scheduler-lease-"))
        ? Promise.reject(new Error("disk says no"))
        : write(),
    );
    try {
      await assert.rejects(scheduler.pullTask(EXEC, { waitMs: 1000, markRunning: true }));
    } finally {
      unhook();
    }
    assert.deepEqual(await store.keysByPrefix(buf("scheduler-claim-")), []);
    assert.deepEqual(await store.keysByPrefix(buf("scheduler-lease-")), []);
    assert.equal(await statusOf(uuid), TaskStatus.Staged);
    const h = await scheduler.pullTask(EXEC, { waitMs: 1000, markRunning: true });
    assert.equal(JSON.parse(h.stagedTask.toString()).task_id, uuid);
    assert.equal(h.generation, 1);
    await scheduler.updateTaskResult(uuid, ok(), h.generation);
    assert.equal(await statusOf(uuid), TaskStatus.Finished);
  });
});

describe("a node's long poll", () => {
  test("ends when its call is cancelled, and when the scheduler stops, leaving no listener behind", async () => {
    const call = new AbortController();
    const executor = randomUUID();
    const cancelled = scheduler.pullTask(executor, { waitMs: 60_000, signal: call.signal });
    await new Promise((r) => setTimeout(r, 50));
    call.abort(new Error("client went away"));
    await assert.rejects(cancelled);
    assert.equal(getEventListeners(call.signal, "abort").length, 0);

    const second = new AbortController();
    const stopped = scheduler.pullTask(randomUUID(), { waitMs: 60_000, signal: second.signal });
    await new Promise((r) => setTimeout(r, 50));
    const t = Date.now();
    await scheduler.close();
    await assert.rejects(stopped);
    assert.ok(Date.now() - t < 5000);
    assert.equal(getEventListeners(second.signal, "abort").length, 0);
    // afterEach closes it again
  });
});
