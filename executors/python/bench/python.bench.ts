// Python executor benchmark: cold start (plain boot vs. memory snapshot), warm-call latency and
// sustained throughput for a trivial function. Every call runs in a fresh single-use sandbox, so
// throughput is bounded by how fast the pool refills.
import { DEFAULT_LIMITS, MemoryTaskRuntime } from "@cloister/runtime";
import { PyodideExecutor as PythonExecutor } from "../src/index.js";

const TRIVIAL = Buffer.from("def entrypoint(argv):\n    return argv[1]\n");

const runtime = new MemoryTaskRuntime();

function trivialCall(executor: PythonExecutor): Promise<string> {
  return executor.execute({
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
}

async function untilWarm(executor: PythonExecutor, size: number): Promise<number> {
  const t0 = performance.now();
  while ((executor.stats()?.warm ?? 0) < size) await new Promise((r) => setTimeout(r, 2));
  return performance.now() - t0;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;
const round = (x: number) => Math.round(x * 10) / 10;

export async function benchPython(): Promise<Record<string, number>> {
  // Plain boot: loadPyodide inside a fresh sandbox.
  let t0 = performance.now();
  const plain = new PythonExecutor({ poolSize: 1, snapshot: false });
  await plain.start();
  const coldStartPlainMs = performance.now() - t0;
  await trivialCall(plain);
  const refillPlainMs = await untilWarm(plain, 1);
  await plain.close();

  // Snapshot: one plain boot to take it, then every sandbox starts from it.
  t0 = performance.now();
  const executor = new PythonExecutor({ poolSize: 2 });
  await executor.start();
  const startWithSnapshotMs = performance.now() - t0;
  if (executor.snapshotError) throw executor.snapshotError;

  const warm: number[] = [];
  const refill: number[] = [];
  for (let i = 0; i < 5; i++) {
    await untilWarm(executor, 2);
    const t = performance.now();
    await trivialCall(executor);
    warm.push(performance.now() - t);
    refill.push(await untilWarm(executor, 2));
  }

  await untilWarm(executor, 2);
  const n = 20;
  t0 = performance.now();
  for (let i = 0; i < n; i++) await trivialCall(executor);
  const sequential = n / ((performance.now() - t0) / 1000);
  await executor.close();

  return {
    coldStartPlainMs: round(coldStartPlainMs),
    refillPlainMs: round(refillPlainMs),
    startWithSnapshotMs: round(startWithSnapshotMs),
    coldStartFromSnapshotMs: round(median(refill)),
    warmCallMs: round(median(warm)),
    callsPerSecond: round(sequential),
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(await benchPython());
}
