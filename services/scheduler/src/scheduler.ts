import { CloisterError, isUuid, type Logger, Status, silentLogger } from "@cloister/core";
import {
  CANCEL_QUEUE,
  cancelByUser,
  failExecutorTimeout,
  finishWithResult,
  isEnded,
  keys,
  markRunning,
  parseStagedTask,
  parseTask,
  STAGED_TASK_QUEUE,
  serializeOutputFile,
  serializeTask,
  type TaskRecord,
  type TaskResult,
} from "@cloister/model";
import { common } from "@cloister/proto";
import type { KvStore } from "@cloister/storage";

const { ExecutorCommand, ExecutorStatus } = common;
type ExecutorCommand = common.ExecutorCommand;

/** The part of the state layer the scheduler uses (the storage service, seen through its client). */
export type SchedulerStore = Pick<
  KvStore,
  "get" | "put" | "delete" | "batch" | "keysByPrefix" | "enqueue" | "dequeueWait"
>;

export interface SchedulerOptions {
  store: SchedulerStore;
  log?: Logger;
  /** A node silent for this long is declared lost and its task failed (legacy: 30 s). */
  heartbeatTimeoutMs?: number;
  now?: () => number;
}

interface ExecutorState {
  lastSeen: number;
  status: common.ExecutorStatus;
  /** Task uuid the executor is running, if any. */
  task?: string | undefined;
  /** Resolves a long-polling heartbeat early (a Stop is waiting). */
  wake?: (() => void) | undefined;
}

const CANCEL_MARK = "scheduler-cancel-";
const buf = (s: string) => Buffer.from(s, "utf8");

/**
 * The scheduler of the legacy contract, reshaped so that nothing waits on a timer:
 * - staged tasks stay in the durable storage queue until an execution node takes one; PullTask
 *   long-polls that queue (a task starts as soon as it is staged, and a scheduler restart loses
 *   no queued task);
 * - cancel requests are consumed from `cancel_queue` as they arrive and kept as durable marks;
 * - Heartbeat may long-poll too, so a Stop reaches the running node at once.
 */
export class Scheduler {
  private readonly store: SchedulerStore;
  private readonly log: Logger;
  private readonly timeoutMs: number;
  private readonly now: () => number;
  private readonly executors = new Map<string, ExecutorState>();
  private readonly cancels = new Set<string>();
  private readonly taskLocks = new Map<string, Promise<unknown>>();
  private readonly stop = new AbortController();
  private sweeper: NodeJS.Timeout | undefined;
  private consumer: Promise<void> | undefined;

  constructor(options: SchedulerOptions) {
    this.store = options.store;
    this.log = options.log ?? silentLogger;
    this.timeoutMs = options.heartbeatTimeoutMs ?? 30_000;
    this.now = options.now ?? Date.now;
  }

  async start(): Promise<void> {
    for (const key of await this.store.keysByPrefix(buf(CANCEL_MARK))) {
      this.cancels.add(key.toString("utf8").slice(CANCEL_MARK.length));
    }
    this.consumer = this.consumeCancels();
    this.sweeper = setInterval(() => void this.sweep(), Math.min(1000, this.timeoutMs / 2));
    this.sweeper.unref();
  }

  async close(): Promise<void> {
    this.stop.abort();
    if (this.sweeper) clearInterval(this.sweeper);
    for (const e of this.executors.values()) e.wake?.();
    await this.consumer?.catch(() => undefined);
  }

  /** Cancel requests pushed by management's CancelTask (full task JSON). */
  private async consumeCancels(): Promise<void> {
    while (!this.stop.signal.aborted) {
      let item: Buffer | undefined;
      try {
        item = await this.store.dequeueWait(buf(CANCEL_QUEUE), 30_000, this.stop.signal);
      } catch (e) {
        if (this.stop.signal.aborted) return;
        this.log.warn({ err: e }, "cancel queue unavailable; retrying");
        await new Promise((r) => setTimeout(r, 500));
        continue;
      }
      if (!item) continue;
      try {
        const uuid = parseTask(item.toString("utf8")).uuid;
        await this.store.put(buf(CANCEL_MARK + uuid), Buffer.alloc(0));
        this.cancels.add(uuid);
        for (const e of this.executors.values()) if (e.task === uuid) e.wake?.();
        this.log.info({ task: uuid }, "cancel requested");
      } catch (e) {
        this.log.error({ err: e }, "malformed cancel request dropped");
      }
    }
  }

  /** Lost nodes: fail what they were running. */
  private async sweep(): Promise<void> {
    const now = this.now();
    for (const [id, e] of this.executors) {
      if (now - e.lastSeen <= this.timeoutMs) continue;
      this.executors.delete(id);
      if (e.task) {
        const uuid = e.task;
        this.log.warn({ executor: id, task: uuid }, "execution node lost; failing its task");
        await this.updateTask(uuid, failExecutorTimeout).catch((err) =>
          this.log.error({ err, task: uuid }, "could not fail task"),
        );
      }
    }
  }

  private executor(id: string): ExecutorState {
    if (!isUuid(id)) throw new CloisterError(Status.INTERNAL, "invalid executor id");
    let e = this.executors.get(id);
    if (!e) {
      e = { lastSeen: this.now(), status: ExecutorStatus.Idle };
      this.executors.set(id, e);
    }
    return e;
  }

  /**
   * Heartbeat. `runningTask` lets a node that outlived a scheduler restart re-announce
   * its task; `waitMs` > 0 holds the answer until there is a command (a Stop) or the time is up.
   */
  async heartbeat(
    executorId: string,
    status: number,
    options: { waitMs?: number; runningTask?: string } = {},
  ): Promise<ExecutorCommand> {
    if (status !== ExecutorStatus.Idle && status !== ExecutorStatus.Executing) {
      throw new CloisterError(Status.INTERNAL, "invalid executor status");
    }
    const e = this.executor(executorId);
    e.lastSeen = this.now();
    e.status = status;
    if (status === ExecutorStatus.Idle) e.task = undefined;
    else if (!e.task && options.runningTask && isUuid(options.runningTask))
      e.task = options.runningTask.toLowerCase();

    const command = async (): Promise<ExecutorCommand | undefined> => {
      if (e.task && e.status === ExecutorStatus.Executing && this.cancels.has(e.task)) {
        const uuid = e.task;
        await this.updateTask(uuid, cancelByUser);
        await this.clearCancel(uuid);
        return ExecutorCommand.Stop;
      }
      return undefined;
    };
    const now = await command();
    if (now !== undefined) return now;
    if (options.waitMs && options.waitMs > 0 && e.status === ExecutorStatus.Executing) {
      // Answer well within the node timeout: a held heartbeat must never look like a lost node.
      const waitMs = Math.min(options.waitMs, this.timeoutMs / 3);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, waitMs);
        function done() {
          clearTimeout(timer);
          resolve();
        }
        e.wake = done;
      });
      e.wake = undefined;
      e.lastSeen = this.now();
      const later = await command();
      if (later !== undefined) return later;
      return ExecutorCommand.NoAction;
    }
    // A legacy node only pulls after NewTask; we cannot peek the durable queue cheaply, so an idle
    // node is invited to pull and gets "task queue is empty" when there is nothing.
    return e.status === ExecutorStatus.Idle ? ExecutorCommand.NewTask : ExecutorCommand.NoAction;
  }

  /**
   * PullTask. With `waitMs` the call long-polls the durable queue; a task whose cancel
   * was requested while queued is canceled and skipped.
   */
  async pullTask(
    executorId: string,
    options: { waitMs?: number; signal?: AbortSignal } = {},
  ): Promise<Buffer> {
    const e = this.executor(executorId);
    e.lastSeen = this.now();
    const deadline = this.now() + (options.waitMs ?? 0);
    for (;;) {
      const remaining = Math.max(0, deadline - this.now());
      const signal = options.signal ? AbortSignal.any([options.signal, this.stop.signal]) : this.stop.signal;
      const item = await this.store.dequeueWait(buf(STAGED_TASK_QUEUE), remaining, signal);
      if (!item) throw new CloisterError(Status.UNKNOWN, "task queue is empty");
      let uuid: string;
      try {
        uuid = parseStagedTask(item).taskUuid;
      } catch (err) {
        this.log.error({ err }, "malformed staged task dropped");
        continue;
      }
      if (this.cancels.has(uuid)) {
        await this.updateTask(uuid, cancelByUser);
        await this.clearCancel(uuid);
        if (!options.waitMs) throw new CloisterError(Status.UNKNOWN, "task to pull has been canceled");
        continue;
      }
      e.task = uuid;
      e.lastSeen = this.now();
      this.log.debug({ task: uuid, executor: executorId }, "task handed to an execution node");
      return item;
    }
  }

  /** UpdateTaskStatus: Staged → Running whatever status is sent (legacy rule). */
  async updateTaskStatus(taskId: string): Promise<void> {
    await this.updateTask(this.taskUuid(taskId), markRunning, true);
    this.log.debug({ task: taskId }, "task running");
  }

  /** UpdateTaskResult: Running → Finished with the result, output cmacs recorded. */
  async updateTaskResult(taskId: string, result: TaskResult): Promise<void> {
    const uuid = this.taskUuid(taskId);
    await this.withTask(uuid, async () => {
      const task = await this.loadTask(uuid);
      if (task.status === common.TaskStatus.Canceled) return; // canceled meanwhile; the late result is dropped
      const { task: done, updatedOutputs } = finishWithResult(task, result);
      await this.store.batch([
        { type: "put", key: buf(keys.task(uuid)), value: buf(serializeTask(done)) },
        ...updatedOutputs.map((o) => ({
          type: "put" as const,
          key: buf(keys.output(o.uuid)),
          value: buf(serializeOutputFile(o)),
        })),
      ]);
    });
    for (const e of this.executors.values()) if (e.task === uuid) e.task = undefined;
    await this.clearCancel(uuid);
    this.log.debug({ task: uuid, result: result.kind }, "task result recorded");
  }

  /** PublishTask (legacy, unused by the platform): append a staged task to the durable queue. */
  async publishTask(stagedTask: Buffer): Promise<void> {
    try {
      parseStagedTask(stagedTask);
    } catch (e) {
      throw new CloisterError(Status.INTERNAL, (e as Error).message);
    }
    await this.store.enqueue(buf(STAGED_TASK_QUEUE), stagedTask);
  }

  private taskUuid(taskId: string): string {
    if (!isUuid(taskId)) throw new CloisterError(Status.INTERNAL, "invalid task id");
    return taskId.toLowerCase();
  }

  private async clearCancel(uuid: string): Promise<void> {
    if (!this.cancels.delete(uuid)) return;
    await this.store.delete(buf(CANCEL_MARK + uuid));
  }

  private async loadTask(uuid: string): Promise<TaskRecord> {
    const raw = await this.store.get(buf(keys.task(uuid)));
    if (!raw) throw new CloisterError(Status.INTERNAL, "service internal error");
    return parseTask(raw.toString("utf8"));
  }

  private async updateTask(
    uuid: string,
    change: (t: TaskRecord) => TaskRecord,
    strict = false,
  ): Promise<void> {
    await this.withTask(uuid, async () => {
      const task = await this.loadTask(uuid);
      if (!strict && isEnded(task.status)) return;
      const next = change(task);
      if (next !== task) await this.store.put(buf(keys.task(uuid)), buf(serializeTask(next)));
    });
  }

  /** One read-modify-write at a time per task. */
  private async withTask<T>(uuid: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.taskLocks.get(uuid) ?? Promise.resolve();
    const run = prev.then(fn, fn);
    const tail = run.catch(() => undefined);
    this.taskLocks.set(uuid, tail);
    try {
      return await run;
    } finally {
      if (this.taskLocks.get(uuid) === tail) this.taskLocks.delete(uuid);
    }
  }
}
