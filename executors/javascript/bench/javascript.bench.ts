// Benchmarks of the JavaScript executor through its sandbox pool: cold start (a new pool until
// its first result), warm call latency and calls per second for a trivial function.
import { DEFAULT_LIMITS, type ExecutionRequest, MemoryTaskRuntime } from "@cloister/runtime";
import { JavascriptExecutor } from "../src/executor.js";

const payload = Buffer.from("function entrypoint(argv) { return argv[1]; }");
const runtime = new MemoryTaskRuntime();

export async function benchJavascript(): Promise<Record<string, number>> {
  const req = (): ExecutionRequest => ({
    taskId: "bench",
    functionName: "f",
    payload,
    executorType: "javascript",
    executor: "javascript",
    arguments: { message: "hi" },
    runtime,
    limits: DEFAULT_LIMITS,
    signal: new AbortController().signal,
  });
  let t = performance.now();
  const cold = new JavascriptExecutor({ poolSize: 1 });
  await cold.execute(req());
  const coldStartMs = performance.now() - t;
  await cold.close();

  const executor = new JavascriptExecutor({ poolSize: 4 });
  await executor.start();
  const latencies: number[] = [];
  for (let i = 0; i < 20; i++) {
    t = performance.now();
    await executor.execute(req());
    latencies.push(performance.now() - t);
  }
  latencies.sort((a, b) => a - b);
  const n = 100;
  t = performance.now();
  await Promise.all(Array.from({ length: n }, () => executor.execute(req())));
  const callsPerSecond = n / ((performance.now() - t) / 1000);
  await executor.close();
  return { coldStartMs, warmCallMsMedian: latencies[latencies.length >> 1] ?? Number.NaN, callsPerSecond };
}
