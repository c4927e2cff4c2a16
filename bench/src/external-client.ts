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

/** How a pass polls: the pause between GetTask polls, and the wait it lets the frontend hold. */
interface Pass {
  label: string;
  pollIntervalMs: number;
  /** Sent as `cloister-get-task-wait-ms`; undefined sends nothing (the frontend's own wait). */
  getTaskWaitMs?: number;
  tasks: number;
}

/**
 * One frontend call and builtin-echo InvokeTask → Finished as a client outside Node sees them:
 * `tests/interop/python_bench.py` (gRPC C-core, the Teaclave wire only, GetTask polled until
 * Finished) against `cloister up` in its default topology, as `npm start` runs it, once the
 * platform is warm (see WARM_UP_TASKS). Four passes on the same platform: polling at once and
 * polling as the Teaclave Python SDK does (a 1 s pause), each with the frontend's GetTask wait
 * (what a Teaclave client gets) and with it asked off by metadata (the legacy timing).
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
    // The pass's name is its key prefix: A/B are the frontend's wait on and asked off.
    const passes: Pass[] = [
      { label: "no pause", pollIntervalMs: 0, tasks },
      { label: "no pause, wait off", pollIntervalMs: 0, getTaskWaitMs: 0, tasks },
      { label: "1 s pause (the Teaclave SDK)", pollIntervalMs: 1000, tasks: 20 },
      { label: "1 s pause, wait off", pollIntervalMs: 1000, getTaskWaitMs: 0, tasks: 10 },
    ];
    const out: Record<string, number | string> = {
      topology: process.env.CLOISTER_TOPOLOGY ? `${topology} (CLOISTER_TOPOLOGY)` : `${topology} (default)`,
      [`warm-up: ${WARM_UP_TASKS} tasks from the TypeScript SDK (8 clients), tasks/s`]: warm,
    };
    // One call figure for every ratio: the first pass's, from the most calls.
    let callP50 = Number.NaN;
    for (const [i, pass] of passes.entries()) {
      const args = ["--calls", String(i === 0 ? calls : 50), "--tasks", String(pass.tasks)];
      args.push("--poll-interval-ms", String(pass.pollIntervalMs));
      if (pass.getTaskWaitMs !== undefined) args.push("--get-task-wait-ms", String(pass.getTaskWaitMs));
      const { stdout } = await runPython(SCRIPT, platform, ...args);
      const o = JSON.parse(stdout) as Observed;
      const task = o.invoke_to_finished;
      if (i === 0) {
        callP50 = o.get_function_usage_stats.p50_ms;
        out["calls timed"] = o.get_function_usage_stats.n;
        out["frontend call (GetFunctionUsageStats) p50 ms"] = callP50;
        out["frontend call (GetFunctionUsageStats) p99 ms"] = o.get_function_usage_stats.p99_ms;
        out["frontend call (GetFunction) p50 ms"] = o.get_function.p50_ms;
        out["frontend call (GetFunction) p99 ms"] = o.get_function.p99_ms;
      }
      out[`invoke→Finished, GetTask polled with ${pass.label}: tasks`] = task.n;
      out[`  ${pass.label}: p50 ms`] = task.p50_ms;
      out[`  ${pass.label}: p99 ms`] = task.p99_ms;
      out[`  ${pass.label}: InvokeTask / GetTask p50 ms, polls`] =
        `${o.invoke_task.p50_ms.toFixed(2)} / ${o.get_task.p50_ms.toFixed(2)}, ${o.get_task_polls_per_task.toFixed(2)}`;
      out[`  ${pass.label}: task p50 / call p50 (goal ≤ ${TASK_PER_CALL_GOAL})`] = task.p50_ms / callP50;
    }
    return out;
  } finally {
    await platform.stop();
  }
}
