// Benchmarks of the JavaScript executor through its sandbox pool: cold start (a new pool until
// its first result), warm call latency and calls per second for a trivial function.
import { DEFAULT_LIMITS, type ExecutionRequest, MemoryTaskRuntime, measureExecutor } from "@cloister/runtime";
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
  return { ...(await measureExecutor((poolSize) => new JavascriptExecutor({ poolSize }), req)) };
}
