import { execFile } from "node:child_process";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import { PYTHON_CLIENT, platformConfig, runPython, startPlatform } from "@cloister/tests";
import { BENCH_CONFIG, WARM_UP_TASKS, warmPlatform } from "./platform.js";
import { defaultTopology } from "./topology.js";

const run = promisify(execFile);
const PYTHON = "/usr/bin/python3";
const SCRIPT = join(dirname(PYTHON_CLIENT), "python_bench.py");

/** The goal of issue 9's external check: one task (invoke → Finished) within 2 frontend calls. */
const TASK_PER_CALL_GOAL = 2;

interface Summary {
  p50_ms: number;
  p99_ms: number;
  n: number;
}

interface Observed {
  get_function_usage_stats: Summary;
  get_function: Summary;
  invoke_to_finished: Summary;
  invoke_task: Summary;
  get_task: Summary;
  get_task_polls_per_task: number;
}

/** Why the external client cannot run here, or undefined when it can. */
async function missing(): Promise<string | undefined> {
  try {
    await run(PYTHON, ["-c", "import grpc, google.protobuf, OpenSSL, cryptography"]);
    return undefined;
  } catch {
    return "python3-grpcio (with python3-protobuf, python3-openssl, python3-cryptography) is missing: apt-get install -y python3-grpcio python3-protobuf python3-openssl python3-cryptography";
  }
}

/**
 * One frontend call and builtin-echo InvokeTask → Finished as a client outside Node sees them:
 * `tests/interop/python_bench.py` (gRPC C-core, the Teaclave wire only, GetTask polled with no
 * pause) against `cloister up` in its default topology, as `npm start` runs it, once the platform
 * is warm (see WARM_UP_TASKS).
 */
export async function benchExternalClient(
  calls = 300,
  tasks = 100,
): Promise<Record<string, number | string>> {
  const why = await missing();
  if (why) throw new Error(why);
  const topology = defaultTopology();
  // As the platform bench: only the builtin executor, and measured in the steady state.
  const platform = await startPlatform(await platformConfig(undefined, BENCH_CONFIG));
  try {
    const warm = await warmPlatform(platform);
    const { stdout } = await runPython(SCRIPT, platform, "--calls", String(calls), "--tasks", String(tasks));
    const o = JSON.parse(stdout) as Observed;
    const call = o.get_function_usage_stats;
    const task = o.invoke_to_finished;
    return {
      topology: process.env.CLOISTER_TOPOLOGY ? `${topology} (CLOISTER_TOPOLOGY)` : `${topology} (default)`,
      [`warm-up: ${WARM_UP_TASKS} tasks from the TypeScript SDK (8 clients), tasks/s`]: warm,
      "calls timed / tasks timed": `${call.n} / ${task.n}`,
      "frontend call (GetFunctionUsageStats) p50 ms": call.p50_ms,
      "frontend call (GetFunctionUsageStats) p99 ms": call.p99_ms,
      "frontend call (GetFunction) p50 ms": o.get_function.p50_ms,
      "frontend call (GetFunction) p99 ms": o.get_function.p99_ms,
      "builtin-echo invoke→Finished (GetTask polled) p50 ms": task.p50_ms,
      "builtin-echo invoke→Finished (GetTask polled) p99 ms": task.p99_ms,
      "  InvokeTask p50 ms": o.invoke_task.p50_ms,
      "  GetTask p50 ms (every poll)": o.get_task.p50_ms,
      "  GetTask polls per task": o.get_task_polls_per_task,
      [`task p50 / call p50 (goal ≤ ${TASK_PER_CALL_GOAL})`]: task.p50_ms / call.p50_ms,
      "task p99 / call p99": task.p99_ms / call.p99_ms,
    };
  } finally {
    await platform.stop();
  }
}
