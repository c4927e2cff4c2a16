import { randomUUID } from "node:crypto";
import type { Logger } from "@cloister/core";
import { parseStagedTask, type TaskResult } from "@cloister/model";
import { common } from "@cloister/proto";
import { TaskFailure } from "@cloister/runtime";
import { type PipelineDeps, runStagedTask } from "./pipeline.js";

/** The scheduler as an execution node sees it (implemented over gRPC by the service binding). */
export interface SchedulerLink {
  heartbeat(
    executorId: string,
    status: common.ExecutorStatus,
    options: { waitMs: number; runningTask?: string },
  ): Promise<common.ExecutorCommand>;
  /** Long-polls for up to `waitMs`; undefined when nothing was staged meanwhile. */
  pullTask(executorId: string, waitMs: number, signal: AbortSignal): Promise<Buffer | undefined>;
  updateTaskStatus(taskUuid: string): Promise<void>;
  updateTaskResult(taskUuid: string, result: TaskResult): Promise<void>;
}

export interface ExecutionNodeOptions {
  link: SchedulerLink;
  deps: PipelineDeps;
  /** Tasks run at once; each slot is one executor id towards the scheduler. */
  slots: number;
  log: Logger;
  pullWaitMs?: number;
  heartbeatWaitMs?: number;
}

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener(
      "abort",
      () => {
        clearTimeout(t);
        resolve();
      },
      { once: true },
    );
  });

/**
 * An execution node: `slots` loops, each long-polling the scheduler for a staged task, running
 * it, and reporting the result. While a task runs, a long-polling heartbeat carries a Stop from
 * the scheduler the moment a cancel arrives; the task's sandbox is then killed.
 */
export class ExecutionNode {
  private readonly closing = new AbortController();
  private loops: Promise<void>[] = [];
  readonly executorIds: string[];

  constructor(private readonly options: ExecutionNodeOptions) {
    this.executorIds = Array.from({ length: options.slots }, () => randomUUID());
  }

  start(): void {
    this.loops = this.executorIds.map((id) => this.slot(id));
  }

  async close(): Promise<void> {
    this.closing.abort();
    await Promise.all(this.loops);
  }

  private async slot(executorId: string): Promise<void> {
    const { link, log } = this.options;
    const stop = this.closing.signal;
    while (!stop.aborted) {
      let item: Buffer | undefined;
      try {
        item = await link.pullTask(executorId, this.options.pullWaitMs ?? 20_000, stop);
      } catch (e) {
        if (stop.aborted) return;
        log.warn({ err: e, executor: executorId }, "pulling a task failed; retrying");
        await sleep(500, stop);
        continue;
      }
      if (!item) continue;
      await this.runOne(executorId, item);
    }
  }

  private async runOne(executorId: string, item: Buffer): Promise<void> {
    const { link, log } = this.options;
    let uuid = "";
    try {
      const staged = parseStagedTask(item);
      uuid = staged.taskUuid;
      try {
        await link.updateTaskStatus(uuid);
      } catch (e) {
        // The scheduler refuses to start it (e.g. it was canceled meanwhile): not ours to run.
        log.warn({ err: e, task: uuid }, "task not started");
        return;
      }
      const cancel = new AbortController();
      const watching = this.watch(executorId, uuid, cancel);
      let result: TaskResult | undefined;
      try {
        result = await runStagedTask(staged, this.options.deps, cancel.signal);
      } catch (e) {
        if (!cancel.signal.aborted) throw e;
        log.info({ task: uuid }, "task stopped: canceled");
      } finally {
        watching.abort();
      }
      if (result) await this.report(uuid, result);
    } catch (e) {
      log.error({ err: e, task: uuid }, "could not run staged task");
      if (uuid)
        await this.report(uuid, {
          kind: "Err",
          reason: e instanceof TaskFailure ? e.message : "Runtime Error",
        }).catch(() => undefined);
    }
  }

  /** Heartbeats while a task runs; aborts `cancel` when the scheduler answers Stop. */
  private watch(executorId: string, uuid: string, cancel: AbortController): AbortController {
    const done = new AbortController();
    const { link, log } = this.options;
    void (async () => {
      while (!done.signal.aborted && !this.closing.signal.aborted) {
        try {
          const command = await link.heartbeat(executorId, common.ExecutorStatus.Executing, {
            waitMs: this.options.heartbeatWaitMs ?? 10_000,
            runningTask: uuid,
          });
          if (command === common.ExecutorCommand.Stop) {
            cancel.abort(new TaskFailure("Task Canceled by the user"));
            return;
          }
        } catch (e) {
          if (done.signal.aborted) return;
          log.warn({ err: e }, "heartbeat failed");
          await sleep(1000, done.signal);
        }
      }
    })();
    return done;
  }

  /** Results are retried: a scheduler restart must not lose a finished task. */
  private async report(uuid: string, result: TaskResult): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await this.options.link.updateTaskResult(uuid, result);
        return;
      } catch (e) {
        const code = (e as { code?: number }).code;
        // INTERNAL is a state error (e.g. the task was canceled meanwhile): retrying cannot help.
        if (code === 13 || attempt >= 20 || this.closing.signal.aborted) {
          this.options.log.warn({ err: e, task: uuid }, "result not recorded");
          return;
        }
        await sleep(Math.min(5000, 200 * 2 ** attempt), this.closing.signal);
      }
    }
  }
}
