// Python executor benchmark: the CPython zygote (what the execution service runs) beside the
// pyodide engine it replaced, for the same trivial function, measured the same way
// (measureExecutor: cold start, warm p50/p99, calls/s at the node's default concurrency).
import { DEFAULT_LIMITS, type ExecutionRequest, MemoryTaskRuntime, measureExecutor } from "@cloister/runtime";
import { PyodideExecutor, PythonExecutor } from "../src/index.js";

const TRIVIAL = Buffer.from("def entrypoint(argv):\n    return argv[1]\n");
const runtime = new MemoryTaskRuntime();

const request = (): ExecutionRequest => ({
  taskId: "bench",
  functionName: "echo",
  payload: TRIVIAL,
  executorType: "python",
  executor: "mesapy",
  arguments: { message: "hi" },
  runtime,
  limits: DEFAULT_LIMITS,
  signal: new AbortController().signal,
});

const prefix = (p: string, figures: object): Record<string, number> =>
  Object.fromEntries(Object.entries(figures).map(([k, v]) => [`${p} ${k}`, v as number]));

export async function benchPython(): Promise<Record<string, number>> {
  const cpython = await measureExecutor((poolSize) => new PythonExecutor({ poolSize }), request);
  // A pyodide call takes a fresh single-use sandbox: far fewer calls keep the run short.
  const pyodide = await measureExecutor((poolSize) => new PyodideExecutor({ poolSize }), request, {
    warmCalls: 10,
    calls: 20,
  });
  return {
    ...prefix("cpython zygote:", cpython),
    ...prefix("pyodide:", pyodide),
    "warm p50: pyodide ÷ cpython": pyodide.warmCallMsP50 / cpython.warmCallMsP50,
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(await benchPython());
}
