import type { ExecutionRequest, Executor } from "./executor.js";

export interface ExecutorFigures {
  /** A new executor (empty pool) until its first result. */
  coldStartMs: number;
  /** Median of sequential calls on a warm executor. */
  warmCallMsMedian: number;
  /** Throughput of a burst of concurrent calls. */
  callsPerSecond: number;
}

/**
 * The figures `npm run bench` prints for every pooled executor, measured the same way for each:
 * cold start, warm sequential latency, and a concurrent burst.
 */
export async function measureExecutor(
  make: (poolSize: number) => Executor & { start(): Promise<void> },
  request: () => ExecutionRequest,
  options: { warmCalls?: number; burst?: number; poolSize?: number } = {},
): Promise<ExecutorFigures> {
  let t = performance.now();
  const cold = make(1);
  await cold.execute(request());
  const coldStartMs = performance.now() - t;
  await cold.close?.();

  const executor = make(options.poolSize ?? 4);
  await executor.start();
  const latencies: number[] = [];
  for (let i = 0; i < (options.warmCalls ?? 20); i++) {
    t = performance.now();
    await executor.execute(request());
    latencies.push(performance.now() - t);
  }
  latencies.sort((a, b) => a - b);
  const n = options.burst ?? 100;
  t = performance.now();
  await Promise.all(Array.from({ length: n }, () => executor.execute(request())));
  const callsPerSecond = n / ((performance.now() - t) / 1000);
  await executor.close?.();
  return { coldStartMs, warmCallMsMedian: latencies[latencies.length >> 1] ?? Number.NaN, callsPerSecond };
}
