// What the execution node adds around every executor without the executors knowing: the task's
// live log (lines go to the task's participants while it runs, when the task keeps its log) and
// the run-time metrics (task duration by executor and outcome, pool sizes, refill times).
import type { ServiceMetrics } from "@cloister/observability";
import type { ExecutionRequest, Executor, TaskRuntime } from "@cloister/runtime";
import { sandboxEvents } from "@cloister/sandbox";
import type { TaskLogRelay } from "./task-log.js";

/** A runtime whose log lines also go to `sink`. */
function teeRuntime(runtime: TaskRuntime, sink: (line: string) => void): TaskRuntime {
  return {
    inputNames: () => runtime.inputNames(),
    outputNames: () => runtime.outputNames(),
    readInput: (name) => runtime.readInput(name),
    writeOutput: (name, data) => runtime.writeOutput(name, data),
    log(line) {
      runtime.log(line);
      sink(line);
    },
  };
}

/**
 * `executor` with live task logs and duration metrics. The log is relayed only for a task that
 * asked for `save_log` — the same consent every participant gave for the log kept in its result —
 * so a function's output never reaches anyone a task did not agree to show it to.
 */
export function instrumentExecutor(
  executor: Executor,
  o: { metrics: ServiceMetrics; relay: TaskLogRelay },
): Executor {
  return {
    accepts: executor.accepts,
    async execute(request: ExecutionRequest): Promise<string> {
      const sink = request.arguments.save_log === "true" ? o.relay.open(request.taskId) : undefined;
      const end = o.metrics.taskDuration.startTimer({ executor: request.executor });
      let outcome = "failed";
      try {
        const value = await executor.execute(
          sink ? { ...request, runtime: teeRuntime(request.runtime, sink) } : request,
        );
        outcome = "ok";
        return value;
      } catch (e) {
        if (request.signal.aborted) outcome = "canceled";
        throw e;
      } finally {
        end({ outcome });
        await o.relay.finish(request.taskId);
      }
    },
    ...(executor.close ? { close: () => executor.close!() } : {}),
  };
}

type PoolStats = { spare?: number; idle?: number; running?: number; starting?: number; waiting?: number };

/**
 * Feeds the refill histogram from the sandbox package's start events (subscribe before the
 * executors start their warm pools). Returns the stop function.
 */
export function feedRefillMetrics(metrics: ServiceMetrics): () => void {
  const onStarted = (e: { pool: string; seconds: number }) =>
    metrics.poolRefill.observe({ pool: e.pool }, e.seconds);
  sandboxEvents.on("worker-started", onStarted);
  return () => sandboxEvents.off("worker-started", onStarted);
}

/** Feeds the pool gauges from each executor's `stats()` every `intervalMs`. Returns the stop function. */
export function feedPoolMetrics(
  executors: Array<{ name: string; executor: Executor }>,
  metrics: ServiceMetrics,
  intervalMs = 1000,
): () => void {
  const sample = () => {
    for (const { name, executor } of executors) {
      const stats = (executor as { stats?: () => PoolStats }).stats;
      if (typeof stats !== "function") continue;
      const s = stats.call(executor);
      for (const state of ["spare", "idle", "running", "starting", "waiting"] as const) {
        const v = s[state];
        if (typeof v === "number") metrics.poolSize.set({ pool: name, state }, v);
      }
    }
  };
  sample();
  const timer = setInterval(sample, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
