import { BuiltinExecutor } from "@cloister/executor-builtin";
import { DEFAULT_LIMITS, MemoryTaskRuntime } from "@cloister/runtime";
import { percentile } from "./stats.js";

const runtime = new MemoryTaskRuntime();

/** builtin-echo called directly on the executor: the baseline the sandboxed executors compare to. */
export async function benchBuiltin(n = 2000): Promise<Record<string, number>> {
  const t0 = process.hrtime.bigint();
  const executor = new BuiltinExecutor();
  const call = () =>
    executor.execute({
      taskId: "bench",
      functionName: "builtin-echo",
      payload: Buffer.alloc(0),
      executorType: "builtin",
      executor: "builtin",
      arguments: { message: "hi" },
      runtime,
      limits: DEFAULT_LIMITS,
      signal: new AbortController().signal,
    });
  await call();
  const cold = Number(process.hrtime.bigint() - t0) / 1e6;
  const samples: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = process.hrtime.bigint();
    await call();
    samples.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  const total = samples.reduce((a, b) => a + b, 0) / 1000;
  return { "cold start ms": cold, "warm call p50 ms": percentile(samples, 50), "calls/s": n / total };
}
