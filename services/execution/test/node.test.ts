import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { getEventListeners } from "node:events";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { silentLogger } from "@cloister/core";
import { FileAgent } from "@cloister/file-agent";
import { type StagedTask, serializeStagedTask, TaskId, type TaskResult } from "@cloister/model";
import { common } from "@cloister/proto";
import { DEFAULT_LIMITS, type ExecutionRequest, type Executor } from "@cloister/runtime";
import {
  cryptoCodec,
  ExecutionNode,
  ExecutorRegistry,
  type LeasedTask,
  type SchedulerLink,
} from "../src/index.js";

// The node side of leases: it quotes its lease generation, drops a task the scheduler refuses,
// stops a run whose lease was taken away, and stops one it could not renew in time.

/** Runs until aborted; counts runs and aborts. */
class HangingExecutor implements Executor {
  readonly accepts = [["builtin", "builtin"]] as const;
  runs = 0;
  aborted = 0;
  async execute(req: ExecutionRequest): Promise<string> {
    this.runs++;
    if (req.functionName === "quick") return "done";
    return new Promise((_, reject) => {
      req.signal.addEventListener("abort", () => {
        this.aborted++;
        reject(req.signal.reason);
      });
    });
  }
}

const stagedTask = (functionName: string): Buffer => {
  const task: StagedTask = {
    taskUuid: TaskId.create(),
    functionUuid: randomUUID(),
    userId: "u",
    executor: "builtin",
    executorType: "builtin",
    functionName,
    functionArguments: new Map() as never,
    functionPayload: Buffer.alloc(0),
    inputData: new Map(),
    outputData: new Map(),
  };
  return Buffer.from(serializeStagedTask(task));
};

/** A scheduler that hands out one task, then nothing; every call is recorded. */
class FakeLink implements SchedulerLink {
  calls: string[] = [];
  results: Array<{ generation: number; result: TaskResult }> = [];
  private handed = false;
  statusError: (Error & { code?: number }) | undefined;
  heartbeatAnswer: () => Promise<common.ExecutorCommand> = async () => {
    await new Promise((r) => setTimeout(r, 20));
    return common.ExecutorCommand.NoAction;
  };
  constructor(private readonly task: LeasedTask) {}
  async heartbeat(_id: string, _s: common.ExecutorStatus, o: { generation?: number }) {
    this.calls.push(`heartbeat ${o.generation}`);
    return this.heartbeatAnswer();
  }
  async pullTask(_id: string, waitMs: number, signal: AbortSignal) {
    this.pulls++;
    if (!this.handed) {
      this.handed = true;
      return this.task;
    }
    await new Promise<void>((r) => {
      const t = setTimeout(r, waitMs);
      signal.addEventListener("abort", () => {
        clearTimeout(t);
        r();
      });
    });
    return undefined;
  }
  async updateTaskStatus(_uuid: string, generation: number) {
    this.calls.push(`status ${generation}`);
    if (this.statusError) throw this.statusError;
  }
  /** Tasks the scheduler hands with a result report (one per report that asks for one). */
  withResult: LeasedTask[] = [];
  pulls = 0;
  async updateTaskResult(_uuid: string, generation: number, result: TaskResult, nextFor?: string) {
    this.calls.push(`result ${generation}${nextFor ? " next" : ""}`);
    this.results.push({ generation, result });
    return nextFor ? this.withResult.shift() : undefined;
  }
}

function nodeOptions(
  link: SchedulerLink,
  executor: Executor = new HangingExecutor(),
  leaseTimeoutMs = 30_000,
) {
  return {
    link,
    slots: 1,
    log: silentLogger,
    leaseTimeoutMs,
    pullWaitMs: 50,
    heartbeatWaitMs: 10,
    deps: {
      agent: new FileAgent({ fusionBaseDir: mkdtempSync(join(tmpdir(), "node-")) }),
      codec: cryptoCodec,
      executors: new ExecutorRegistry([executor]),
      limits: DEFAULT_LIMITS,
      log: silentLogger,
    },
  };
}

const node = (link: SchedulerLink, executor: Executor, leaseTimeoutMs = 30_000) =>
  new ExecutionNode(nodeOptions(link, executor, leaseTimeoutMs));

const until = async (cond: () => boolean) => {
  while (!cond()) await new Promise((r) => setTimeout(r, 10));
};

test("status and result quote the lease generation", async () => {
  const link = new FakeLink({ stagedTask: stagedTask("quick"), generation: 7 });
  const n = node(link, new HangingExecutor());
  n.start();
  await until(() => link.results.length === 1);
  await n.close();
  assert.equal(link.calls[0], "status 7");
  assert.equal(link.results[0]?.generation, 7);
  assert.equal(link.results[0]?.result.kind, "Ok");
});

test("a task that ends before its first heartbeat is due costs no heartbeat, even long after", async () => {
  const link = new FakeLink({ stagedTask: stagedTask("quick"), generation: 2 });
  const n = new ExecutionNode({ ...nodeOptions(link, new HangingExecutor(), 300), firstHeartbeatMs: 50 });
  n.start();
  await until(() => link.results.length === 1);
  // Past the first heartbeat's time and past the fence's (200 ms): neither started for it.
  await new Promise((r) => setTimeout(r, 450));
  await n.close();
  assert.deepEqual(link.calls, ["status 2", "result 2 next"]);
});

test("a task whose status the scheduler refuses (stale lease) is not run", async () => {
  const link = new FakeLink({ stagedTask: stagedTask("quick"), generation: 2 });
  link.statusError = Object.assign(new Error("task lease is not held by this executor"), { code: 9 });
  const executor = new HangingExecutor();
  const n = node(link, executor);
  n.start();
  await until(() => link.calls.includes("status 2"));
  await new Promise((r) => setTimeout(r, 100));
  await n.close();
  assert.equal(executor.runs, 0);
  assert.deepEqual(link.results, []);
});

test("Stop from the scheduler (lease taken away) ends the run and reports nothing", async () => {
  const link = new FakeLink({ stagedTask: stagedTask("hang"), generation: 3 });
  const executor = new HangingExecutor();
  let beats = 0;
  link.heartbeatAnswer = async () =>
    ++beats >= 2 ? common.ExecutorCommand.Stop : common.ExecutorCommand.NoAction;
  const n = node(link, executor);
  n.start();
  await until(() => executor.aborted === 1);
  await n.close();
  assert.ok(link.calls.includes("heartbeat 3"));
  assert.deepEqual(link.results, []);
});

test("a node that cannot renew its lease stops the run itself", async () => {
  const link = new FakeLink({ stagedTask: stagedTask("hang"), generation: 1 });
  link.heartbeatAnswer = async () => {
    throw Object.assign(new Error("unavailable"), { code: 14 });
  };
  const executor = new HangingExecutor();
  const n = node(link, executor, 600); // fences after 400 ms without a renewal
  n.start();
  await until(() => executor.aborted === 1);
  await n.close();
  assert.deepEqual(link.results, []);
});

test("each long poll gets a signal of its own (no listener piles up), and close() aborts the one in flight", async () => {
  const signals: AbortSignal[] = [];
  let polls = 0;
  const link: SchedulerLink = {
    async heartbeat() {
      return common.ExecutorCommand.NoAction;
    },
    async pullTask(_id, waitMs, signal) {
      polls++;
      signals.push(signal);
      // As the gRPC link does: a listener on the signal it is given.
      await new Promise<void>((r) => {
        const t = setTimeout(r, polls < 30 ? 0 : waitMs);
        signal.addEventListener(
          "abort",
          () => {
            clearTimeout(t);
            r();
          },
          { once: true },
        );
      });
      return undefined;
    },
    async updateTaskStatus() {},
    async updateTaskResult() {
      return undefined;
    },
  };
  const n = new ExecutionNode({ ...nodeOptions(link), pullWaitMs: 60_000 });
  n.start();
  await until(() => polls >= 31);
  assert.equal(new Set(signals).size, signals.length, "a fresh signal per poll");
  const t = Date.now();
  await n.close();
  assert.ok(Date.now() - t < 5000, "the pending poll was aborted");
  assert.ok(signals.at(-1)!.aborted);
  assert.ok(getEventListeners(signals[0]!, "abort").length <= 1);
});

test("a task handed with the last result runs at once: no pull between two tasks", async () => {
  const link = new FakeLink({ stagedTask: stagedTask("quick"), generation: 1, running: true });
  link.withResult.push({ stagedTask: stagedTask("quick"), generation: 2, running: true });
  const n = node(link, new HangingExecutor());
  n.start();
  await until(() => link.results.length === 2);
  await n.close();
  assert.deepEqual(
    link.calls.filter((c) => c.startsWith("result")),
    ["result 1 next", "result 2 next"],
    "each report asks for the slot's next task",
  );
  // The first pull brought the first task; the second came with its result, so the only other
  // pulls are the idle ones after the second report.
  assert.deepEqual(
    link.results.map((r) => r.generation),
    [1, 2],
  );
});

test("a closing node asks for no next task, and runs one it was handed before closing", async () => {
  const link = new FakeLink({ stagedTask: stagedTask("quick"), generation: 1, running: true });
  link.withResult.push({ stagedTask: stagedTask("quick"), generation: 2, running: true });
  const n = node(link, new HangingExecutor());
  n.start();
  await until(() => link.results.length >= 1);
  await n.close();
  // Whatever the timing, a handed task is reported, never left leased to a stopped slot.
  assert.equal(
    link.withResult.length === 0,
    link.results.some((r) => r.generation === 2),
  );
});
