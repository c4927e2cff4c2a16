// Python executor benchmark: the CPython zygote, measured like every pooled executor
// (measureExecutor: boot, cold start of a new function, warm p50/p99, calls/s at the node's
// default concurrency), plus the first task of a new function that imports numpy.
import { DEFAULT_LIMITS, type ExecutionRequest, MemoryTaskRuntime, measureExecutor } from "@cloister/runtime";
import { PythonExecutor } from "../src/index.js";

const TRIVIAL = Buffer.from("def entrypoint(argv):\n    return argv[1]\n");
const NUMPY = Buffer.from(
  "import numpy as np\ndef entrypoint(argv):\n    return str(int(np.arange(10).sum()))\n",
);
const runtime = new MemoryTaskRuntime();

const request = (payload = TRIVIAL, functionId?: string): ExecutionRequest => ({
  taskId: "bench",
  ...(functionId ? { functionId } : {}),
  functionName: "echo",
  payload,
  executorType: "python",
  executor: "mesapy",
  arguments: { message: "hi" },
  runtime,
  limits: DEFAULT_LIMITS,
  signal: new AbortController().signal,
});

const prefix = (p: string, figures: object): Record<string, number> =>
  Object.fromEntries(Object.entries(figures).map(([k, v]) => [`${p} ${k}`, v as number]));

/** First task of each of `n` new functions that use numpy, one at a time, on a started executor. */
async function numpyColdStarts(n: number): Promise<number> {
  const executor = new PythonExecutor({ poolSize: 2 });
  await executor.start();
  const times: number[] = [];
  try {
    for (let i = 0; i < n; i++) {
      const t = performance.now();
      await executor.execute(request(NUMPY, `numpy-${i}`));
      times.push(performance.now() - t);
      // The next new function finds a spare again (as on a node between first tasks).
      while ((executor.stats()?.spare ?? 0) < 1) await new Promise((r) => setTimeout(r, 10));
    }
  } finally {
    await executor.close();
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)]!;
}

export async function benchPython(): Promise<Record<string, number>> {
  const cpython = await measureExecutor((poolSize) => new PythonExecutor({ poolSize }), request);
  return {
    ...prefix("cpython zygote:", cpython),
    "cpython zygote: coldStartMs, numpy function (p50 of 5)": await numpyColdStarts(5),
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(await benchPython());
}
