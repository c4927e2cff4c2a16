import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { CloisterClient, FunctionDefinition, TaskExecutor } from "@cloister/sdk";
import { client, ECHO_FUNCTION, platformConfig, startPlatform } from "@cloister/tests";
import { percentile, runsPerSecond } from "./stats.js";

/** A trivial function per executor: the same echo-sized work as builtin-echo. */
function functions(): Array<{ label: string; fn: FunctionDefinition; executor: string; args: object }> {
  return [
    { label: "builtin-echo", fn: ECHO_FUNCTION, executor: "builtin", args: { message: "bench" } },
    {
      label: "wasm simple_add",
      fn: {
        name: "simple_add",
        executorType: "wamr",
        payload: simpleAdd(),
        arguments: [
          { key: "adder1", defaultValue: "", allowOverwrite: true },
          { key: "adder2", defaultValue: "", allowOverwrite: true },
        ],
      },
      executor: "wamr",
      args: { adder1: "3", adder2: "4" },
    },
    {
      label: "python (mesapy) echo",
      fn: {
        name: "py_echo",
        executorType: "python",
        payload: Buffer.from("def entrypoint(argv):\n    return argv[1]\n"),
        arguments: [{ key: "message", defaultValue: "", allowOverwrite: true }],
      },
      executor: "mesapy",
      args: { message: "bench" },
    },
    {
      label: "javascript echo",
      fn: {
        name: "js_echo",
        executorType: "javascript",
        payload: Buffer.from("function entrypoint(argv) { return argv[1]; }"),
        arguments: [{ key: "message", defaultValue: "", allowOverwrite: true }],
      },
      executor: "javascript",
      args: { message: "bench" },
    },
  ];
}

function simpleAdd(): Buffer {
  const dir = mkdtempSync(join(tmpdir(), "cloister-bench-"));
  try {
    writeFileSync(
      join(dir, "f.c"),
      "static int num(const char *s) { int n = 0; while (*s) n = n * 10 + (*s++ - '0'); return n; }\n" +
        "int entrypoint(int argc, char **argv) { return num(argv[1]) + num(argv[3]); }\n",
    );
    execFileSync("clang", [
      "--target=wasm32",
      "-O2",
      "-nostdlib",
      "-Wl,--no-entry",
      "-Wl,--export=entrypoint",
      "-o",
      join(dir, "f.wasm"),
      join(dir, "f.c"),
    ]);
    return readFileSync(join(dir, "f.wasm"));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

type Fn = { label: string; functionId: string; executor: TaskExecutor; args: object };

/** One task: create, then time InvokeTask until a client polling GetTask sees it Finished. */
async function once(c: CloisterClient, f: Fn): Promise<number> {
  const taskId = await c.createTask({
    functionId: f.functionId,
    arguments: { ...f.args },
    executor: f.executor,
  });
  const t = process.hrtime.bigint();
  await c.invokeTask(taskId);
  const task = await c.waitForTask(taskId, { pollMs: 1 });
  const ms = Number(process.hrtime.bigint() - t) / 1e6;
  if (!task.result?.Ok || task.result.Ok.cloisterFailure)
    throw new Error(
      `bench task failed (${f.label}): ${task.result?.Ok?.cloisterFailure ?? task.result?.Err?.reason}`,
    );
  return ms;
}

const throughput = (c: CloisterClient, f: Fn, total: number, concurrency: number): Promise<number> =>
  runsPerSecond(total, concurrency, () => once(c, f));

/**
 * Each executor's trivial function through the whole platform (InvokeTask → Finished seen by a
 * client polling GetTask), beside builtin-echo in the same platform and run, with the ratios.
 */
export async function benchExecutorsPlatform(
  sequential = 50,
  total = 100,
  concurrency = 4,
): Promise<Record<string, number>> {
  const platform = await startPlatform(await platformConfig());
  const c = client(platform);
  const out: Record<string, number> = {};
  try {
    await c.login("admin", "teaclave");
    const fns: Fn[] = [];
    for (const { label, fn, executor, args } of functions())
      fns.push({ label, functionId: await c.registerFunction(fn), executor: executor as TaskExecutor, args });
    // Warm every executor first, then interleave the samples: noise from other processes on the
    // machine then falls on every executor alike.
    for (let i = 0; i < 5; i++) for (const f of fns) await once(c, f);
    const samples = new Map<string, number[]>(fns.map((f) => [f.label, []]));
    for (let i = 0; i < sequential; i++) for (const f of fns) samples.get(f.label)!.push(await once(c, f));
    const [echo] = fns;
    const echoP50 = percentile(samples.get(echo!.label)!, 50);
    let echoRate = 0;
    for (const f of fns) {
      const s = samples.get(f.label)!;
      const rate = await throughput(c, f, total, concurrency);
      out[`${f.label} invoke→Finished p50 ms`] = percentile(s, 50);
      out[`${f.label} invoke→Finished p99 ms`] = percentile(s, 99);
      out[`${f.label} tasks/s (${concurrency} clients)`] = rate;
      if (f === echo) echoRate = rate;
      else {
        out[`${f.label} p50 ÷ builtin-echo p50`] = percentile(s, 50) / echoP50;
        out[`${f.label} tasks/s ÷ builtin-echo tasks/s`] = rate / echoRate;
      }
    }
    return out;
  } finally {
    c.close();
    await platform.stop();
  }
}
