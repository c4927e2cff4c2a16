import { randomUUID } from "node:crypto";
import { type ErrorKind, hasKind, idsOnlyLogger, type Logger } from "@cloister/core";
import { parseStagedTask, type TaskResult } from "@cloister/model";
import { common } from "@cloister/proto";
import { TaskFailure } from "@cloister/runtime";
import { type PipelineDeps, runStagedTask } from "./pipeline.js";

/** The scheduler as an execution node sees it (implemented over gRPC by the service binding). */
export interface SchedulerLink {
  heartbeat(
    executorId: string,
    status: common.ExecutorStatus,
    options: { waitMs: number; runningTask?: string; generation?: number },
  ): Promise<common.ExecutorCommand>;
  /** Long-polls for up to `waitMs`; undefined when nothing was staged meanwhile. */
  pullTask(executorId: string, waitMs: number, signal: AbortSignal): Promise<LeasedTask | undefined>;
  /** Both quote the lease generation; a stale one is refused with 9 FAILED_PRECONDITION. */
  updateTaskStatus(taskUuid: string, generation: number): Promise<void>;
  /**
   * With `nextFor`, the scheduler also hands that slot its next task in the answer when one is
   * staged already (it never waits): a busy slot needs no pull between two tasks.
   */
  updateTaskResult(
    taskUuid: string,
    generation: number,
    result: TaskResult,
    nextFor?: string,
  ): Promise<LeasedTask | undefined>;
}

/** A staged task as the scheduler hands it over: leased under `generation`. */
export interface LeasedTask {
  stagedTask: Buffer;
  generation: number;
  /** The scheduler recorded it Running with the lease: no status report is needed. */
  running?: boolean;
}

export interface ExecutionNodeOptions {
  link: SchedulerLink;
  deps: PipelineDeps;
  /** Tasks run at once; each slot is one executor id towards the scheduler. */
  slots: number;
  /** The slots' executor ids (kept across restarts, see seats.ts); random when absent. */
  executorIds?: string[];
  log: Logger;
  pullWaitMs?: number;
  heartbeatWaitMs?: number;
  /** How long a task runs before its first heartbeat (default 200 ms). */
  firstHeartbeatMs?: number;
  /** Told the lease each task runs under before it runs (the task log relay quotes it). */
  onTaskLeased?(uuid: string, generation: number): void;
  /**
   * The scheduler's node timeout. A node that could not renew its lease for two thirds of it
   * stops the task itself: by then the scheduler may have handed it to another node.
   */
  leaseTimeoutMs?: number;
}

/**
 * Scheduler answers after which retrying cannot help: the lease is gone (this run is void), the
 * task's state forbids the step (canceled meanwhile), or the report itself is refused.
 */
const FINAL: readonly ErrorKind[] = [
  "LEASE_NOT_HELD",
  "CANNOT_RESTORE_RUN",
  "CANNOT_RESTORE_FINISH",
  "SCHEDULER_INVALID_TASK_ID",
  "RESULT_TAG_LENGTH",
  "RESULT_OUTPUT_UNKNOWN",
  "RESULT_CMAC_SET",
  "TASK_RESULT_MISSING",
  "LEASED_RESULT_MISSING",
  "LEASE_GENERATION_MISSING",
  // The scheduler could not find the task record.
  "INTERNAL",
];
const isFinal = (e: unknown) => hasKind(e, ...FINAL);

/**
 * Why a task's heartbeat loop ends. An abort without a reason builds a DOMException (a stack
 * trace) each time: measurable once per task on the hot path.
 */
const TASK_DONE = Object.freeze({ why: "task done" });

/** Resolves after `ms` or on abort; its listener goes either way (long-lived signals get many sleeps). */
const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal.aborted) return resolve();
    const onAbort = () => {
      clearTimeout(t);
      resolve();
    };
    const t = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal.addEventListener("abort", onAbort, { once: true });
  });

/**
 * An execution node: `slots` loops, each long-polling the scheduler for a staged task, running
 * it, and reporting the result. While a task runs, a long-polling heartbeat carries a Stop from
 * the scheduler the moment a cancel arrives; the task's sandbox is then killed.
 */
export class ExecutionNode {
  private readonly closing = new AbortController();
  /**
   * The long polls in progress, each with a signal of its own that close() aborts. Handing the
   * polls the node's closing signal instead left one abort listener on it per task pulled (a
   * leak, and every later listener walked all of them: 40 µs per pull after 10,000 tasks).
   */
  private readonly pulls = new Set<AbortController>();
  private loops: Promise<void>[] = [];
  readonly executorIds: string[];
  /** The two lines of every task (started, finished): ids and kinds only, so unredacted. */
  private readonly trail: Logger;

  constructor(private readonly options: ExecutionNodeOptions) {
    this.trail = idsOnlyLogger(options.log);
    this.executorIds = options.executorIds?.slice(0, options.slots) ?? [];
    while (this.executorIds.length < options.slots) this.executorIds.push(randomUUID());
  }

  start(): void {
    this.loops = this.executorIds.map((id) => this.slot(id));
  }

  async close(): Promise<void> {
    this.closing.abort();
    for (const pull of this.pulls) pull.abort();
    await Promise.all(this.loops);
  }

  private async slot(executorId: string): Promise<void> {
    const { link, log } = this.options;
    const stop = this.closing.signal;
    // A task handed with the last result is run even when the node started closing meanwhile
    // (close waits for it): it is leased to this slot, and dropping it would hold it until the
    // lease expires.
    let next: LeasedTask | undefined;
    while (next || !stop.aborted) {
      if (next) {
        const item = next;
        next = undefined;
        next = await this.runOne(executorId, item);
        continue;
      }
      let item: LeasedTask | undefined;
      const pull = new AbortController();
      this.pulls.add(pull);
      try {
        item = await link.pullTask(executorId, this.options.pullWaitMs ?? 20_000, pull.signal);
      } catch (e) {
        if (stop.aborted) return;
        log.warn({ err: e, executor: executorId }, "pulling a task failed; retrying");
        await sleep(500, stop);
        continue;
      } finally {
        this.pulls.delete(pull);
      }
      if (!item) continue;
      next = await this.runOne(executorId, item);
    }
  }

  /** Runs one leased task and reports it; resolves with the slot's next task if the report brought one. */
  private async runOne(executorId: string, leased: LeasedTask): Promise<LeasedTask | undefined> {
    const { log } = this.options;
    const { generation } = leased;
    let uuid = "";
    try {
      const staged = parseStagedTask(leased.stagedTask);
      uuid = staged.taskUuid;
      this.options.onTaskLeased?.(uuid, generation);
      if (!leased.running && !(await this.markRunning(uuid, generation))) return undefined;
      const cancel = new AbortController();
      const stopWatching = this.watch(executorId, uuid, generation, cancel);
      this.trail.info({ task: uuid, generation, executor: executorId }, "task started");
      let result: TaskResult | undefined;
      try {
        result = await runStagedTask(staged, this.options.deps, cancel.signal);
      } catch (e) {
        if (!cancel.signal.aborted) throw e;
        log.info({ task: uuid, generation, why: String(cancel.signal.reason) }, "task stopped");
      } finally {
        stopWatching();
      }
      return result ? await this.report(uuid, generation, result, executorId) : undefined;
    } catch (e) {
      log.error({ err: e, task: uuid }, "could not run staged task");
      if (uuid)
        return await this.report(
          uuid,
          generation,
          { kind: "Err", reason: e instanceof TaskFailure ? e.message : "Runtime Error" },
          executorId,
        ).catch(() => undefined);
      return undefined;
    }
  }

  /**
   * Report Running, retrying while the scheduler is unreachable (its lease outlives a restart);
   * false when the scheduler refuses (canceled meanwhile, or the lease was taken away).
   */
  private async markRunning(uuid: string, generation: number): Promise<boolean> {
    const { link, log } = this.options;
    const giveUp = Date.now() + ((this.options.leaseTimeoutMs ?? 30_000) * 2) / 3;
    for (let attempt = 0; ; attempt++) {
      try {
        await link.updateTaskStatus(uuid, generation);
        return true;
      } catch (e) {
        if (isFinal(e) || Date.now() >= giveUp || this.closing.signal.aborted) {
          log.warn({ err: e, task: uuid, generation }, "task not started");
          return false;
        }
        await sleep(Math.min(1000, 100 * 2 ** attempt), this.closing.signal);
      }
    }
  }

  /**
   * Heartbeats while a task runs; aborts `cancel` when the scheduler answers Stop (a cancel, or
   * the lease is no longer this node's), and when no heartbeat got through for so long that the
   * lease may have expired (self-fencing: the task may already run elsewhere). Returns what stops
   * it. Nothing starts before the first heartbeat is due (or the fence could first trip, if that
   * is sooner): a short task ends before and costs one timer, set and cleared, and no call; a
   * cancel sent meanwhile waits as a durable mark and is answered Stop by that first heartbeat.
   */
  private watch(executorId: string, uuid: string, generation: number, cancel: AbortController): () => void {
    const { link, log } = this.options;
    const fenceMs = ((this.options.leaseTimeoutMs ?? 30_000) * 2) / 3;
    const firstMs = this.options.firstHeartbeatMs ?? 200;
    const startedAt = Date.now();
    let renewedAt = startedAt;
    let done: AbortController | undefined;
    let fence: NodeJS.Timeout | undefined;
    const begin = () => {
      const stop = new AbortController();
      done = stop;
      fence = setInterval(() => {
        if (Date.now() - renewedAt > fenceMs) {
          log.warn({ task: uuid, generation }, "lease not renewed in time; stopping the task");
          cancel.abort(new TaskFailure("lease lost"));
        }
      }, 250);
      void (async () => {
        await sleep(startedAt + firstMs - Date.now(), stop.signal);
        while (!stop.signal.aborted && !this.closing.signal.aborted && !cancel.signal.aborted) {
          const sentAt = Date.now();
          try {
            const command = await link.heartbeat(executorId, common.ExecutorStatus.Executing, {
              waitMs: this.options.heartbeatWaitMs ?? 10_000,
              runningTask: uuid,
              generation,
            });
            renewedAt = sentAt;
            if (command === common.ExecutorCommand.Stop) {
              cancel.abort(new TaskFailure("Task Canceled by the user"));
              return;
            }
          } catch (e) {
            if (stop.signal.aborted) return;
            log.warn({ err: e, task: uuid, generation }, "heartbeat failed");
            await sleep(500, stop.signal);
          }
        }
      })();
    };
    const start = setTimeout(begin, Math.min(firstMs, fenceMs));
    return () => {
      clearTimeout(start);
      if (fence) clearInterval(fence);
      done?.abort(TASK_DONE);
    };
  }

  /**
   * Results are retried: a scheduler restart must not lose a finished task. A closing node asks
   * for no next task. (A next task whose answer was lost is not lost: the slot's next pull makes
   * the scheduler take back whatever that executor id still holds.)
   */
  private async report(
    uuid: string,
    generation: number,
    result: TaskResult,
    executorId: string,
  ): Promise<LeasedTask | undefined> {
    for (let attempt = 0; ; attempt++) {
      try {
        const nextFor = this.closing.signal.aborted ? undefined : executorId;
        const next = await this.options.link.updateTaskResult(uuid, generation, result, nextFor);
        this.trail.info({ task: uuid, generation, result: result.kind }, "task finished");
        return next;
      } catch (e) {
        if (isFinal(e) || attempt >= 30 || this.closing.signal.aborted) {
          this.options.log.warn({ err: e, task: uuid, generation }, "result not recorded");
          return undefined;
        }
        await sleep(Math.min(2000, 200 * 2 ** attempt), this.closing.signal);
      }
    }
  }
}
