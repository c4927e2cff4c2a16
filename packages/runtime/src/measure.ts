import type { ExecutionRequest, Executor } from "./executor.js";

export interface ExecutorFigures {
  /**
   * The first call of a function the executor has never run, on a started executor (its spare
   * workers warm, none bound to that function): what a function's first task costs on a running
   * node — the cold start serverless platforms quote.
   */
  coldStartMs: number;
  /** A new executor, nothing started (no worker, no sandbox probe yet), until its first result. */
  bootMs: number;
  /** Sequential calls on a warm executor: median and 99th percentile. */
  warmCallMsP50: number;
  warmCallMsP99: number;
  /** Throughput with `concurrency` calls in flight at all times (the node's default: 2). */
  callsPerSecond: number;
}

const percentile = (sorted: number[], p: number): number =>
  sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? Number.NaN;

/**
 * The figures `npm run bench` prints for every pooled executor, measured the same way for each:
 * cold start, warm sequential latency, and throughput at a fixed concurrency.
 */
export async function measureExecutor(
  make: (poolSize: number) => Executor & { start(): Promise<void> },
  request: () => ExecutionRequest,
  options: { warmCalls?: number; calls?: number; concurrency?: number } = {},
): Promise<ExecutorFigures> {
  const concurrency = options.concurrency ?? 2;
  let t = performance.now();
  const cold = make(1);
  await cold.execute(request());
  const bootMs = performance.now() - t;
  await cold.close?.();

  const executor = make(concurrency);
  await executor.start();
  t = performance.now();
  await executor.execute({ ...request(), functionId: "measure-cold-start" });
  const coldStartMs = performance.now() - t;
  // The first call of a function binds a worker to it; then it is warm.
  await Promise.all(Array.from({ length: concurrency }, () => executor.execute(request())));
  const latencies: number[] = [];
  for (let i = 0; i < (options.warmCalls ?? 200); i++) {
    t = performance.now();
    await executor.execute(request());
    latencies.push(performance.now() - t);
  }
  latencies.sort((a, b) => a - b);
  const n = options.calls ?? 1000;
  let started = 0;
  t = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (started < n) {
        started++;
        await executor.execute(request());
      }
    }),
  );
  const callsPerSecond = n / ((performance.now() - t) / 1000);
  await executor.close?.();
  return {
    coldStartMs,
    bootMs,
    warmCallMsP50: percentile(latencies, 50),
    warmCallMsP99: percentile(latencies, 99),
    callsPerSecond,
  };
}
