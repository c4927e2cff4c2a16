import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import type { CloisterClient } from "@cloister/sdk";
import { CLI, client, ECHO_FUNCTION, type Platform, platformConfig, startPlatform } from "@cloister/tests";
import { attestedUnaryP50, crossProcessAttestedP50 } from "./grpc.js";
import { childCpu, cpuBetween, serviceName } from "./procs.js";
import { percentile, runsPerSecond } from "./stats.js";
import {
  CONTROL_PLANE,
  defaultTopology,
  type Topology,
  topologies,
  topologyKnown,
  topologyLine,
  withoutTopologyEnv,
} from "./topology.js";

/** The hop-floor targets (issue 9): what each printed ratio is measured against. */
const TARGET = { callRatio: 4, p50Ms: 3, p99Ms: 10, tasksPerSecond: 500 };

/**
 * Processes a platform runs once (their state or their serialisation lives in one process), so
 * adding machines does not add to their capacity; frontends, authentication, access control and
 * execution nodes can be replicated under `split`. Under `combined` all but the execution nodes
 * are the one control-plane process.
 */
const SINGLE_INSTANCE = [CONTROL_PLANE, "management", "storage", "scheduler"];

// Only the builtin executor: sandbox pools filling in the background would share the two cores
// with the path being measured (the executors have their own benchmarks). The bench's clients
// all sign in as one user, standing for many: the per-user call rate (500/s by default, a
// tenant setting) would otherwise cap the throughput at about 170 tasks/s.
export const BENCH_CONFIG =
  '[execution]\nexecutors = ["builtin"]\n[frontend]\nuser_calls_per_second = 1000000\nuser_call_burst = 1000000\n';

/**
 * Tasks run with all clients before anything is timed. A platform serves for days; what the
 * figures describe is its steady state, not the first seconds after start, when V8 is still
 * compiling the hot path (measured: two of the control plane's four V8 worker threads busy
 * compiling, and its CPU per task 2–3× the steady value, during the first 400 tasks).
 */
export const WARM_UP_TASKS = 2000;

/** One builtin-echo task as a client runs it: create, then invoke → Finished (the timed part). */
async function oneTask(c: CloisterClient, functionId: string): Promise<number> {
  const taskId = await c.createTask({ functionId, arguments: { message: "bench" } });
  const t = process.hrtime.bigint();
  await c.invokeTask(taskId);
  await c.waitForTask(taskId);
  return Number(process.hrtime.bigint() - t) / 1e6;
}

/** Tasks per second with `concurrency` clients running `total` tasks (create+invoke+watch each). */
const throughput = (c: CloisterClient, functionId: string, total: number, concurrency: number) =>
  runsPerSecond(total, concurrency, () => oneTask(c, functionId));

/**
 * Brings a platform to its steady state: WARM_UP_TASKS builtin-echo tasks with `concurrency`
 * clients, untimed, as a signed-in TypeScript SDK client; their tasks/s.
 */
export async function warmPlatform(platform: Platform, concurrency = 8): Promise<number> {
  const c = client(platform);
  try {
    await c.login("admin", "teaclave");
    return await throughput(c, await c.registerFunction(ECHO_FUNCTION), WARM_UP_TASKS, concurrency);
  } finally {
    c.close();
  }
}

/** Every operations endpoint's /metrics text now, by service ("" where one did not answer). */
async function scrape(platform: Platform): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const [key, port] of Object.entries(platform.ports)) {
    if (!key.startsWith("ops_")) continue;
    const text = await fetch(`http://127.0.0.1:${port}/metrics`)
      .then((r) => r.text())
      .catch(() => "");
    out.set(key.slice(4), text);
  }
  return out;
}

/** RPCs each service has served so far (its `cloister_rpc_requests_total`), by method. */
function served(metrics: Map<string, string>): Map<string, Map<string, number>> {
  const out = new Map<string, Map<string, number>>();
  for (const [endpoint, text] of metrics) {
    for (const m of text.matchAll(/^cloister_rpc_requests_total\{([^}]*)\} (\d+)/gm)) {
      const labels = Object.fromEntries([...m[1]!.matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1]!, l[2]!]));
      // Keyed by the series' own service label: where several services share a process, one
      // endpoint may answer for more than its own, and a series seen twice is still one.
      // In-process calls between co-hosted services are counted apart: they are not RPCs.
      const service = `${labels.service ?? endpoint}${labels.transport === "in-process" ? " (in process)" : ""}`;
      const method = `${labels.method ?? "?"} ${labels.code ?? ""}`;
      const methods = out.get(service) ?? new Map<string, number>();
      methods.set(method, Math.max(methods.get(method) ?? 0, Number(m[2])));
      out.set(service, methods);
    }
  }
  return out;
}

/** RPCs served per task by each service between two `served` snapshots, and storage's by method. */
function callsPerTask(
  before: Map<string, Map<string, number>>,
  after: Map<string, Map<string, number>>,
  total: number,
): Record<string, number> {
  const out: Record<string, number> = {};
  const storage = new Map<string, number>();
  let all = 0;
  for (const [service, methods] of after) {
    let sum = 0;
    for (const [method, n] of methods) {
      const d = n - (before.get(service)?.get(method) ?? 0);
      sum += d;
      const name = method.replace(/^.*\//, "").replace(/ .*$/, "");
      if (service === "storage" && d > 0) storage.set(name, (storage.get(name) ?? 0) + d);
    }
    if (service.endsWith("(in process)")) {
      if (sum > 0)
        out[`  in-process calls served per task: ${service.replace(" (in process)", "")}`] = sum / total;
      continue;
    }
    if (sum > 0) out[`  RPCs served per task: ${service}`] = sum / total;
    all += sum;
  }
  for (const [name, d] of storage) out[`    storage ${name} per task`] = d / total;
  out["  RPCs served per task: all services"] = all / total;
  return out;
}

/** Garbage collections of one process so far (the `cloister_nodejs_gc_duration_seconds` histogram). */
interface GcTotals {
  seconds: number;
  count: number;
  /** Collections that paused the process 10 ms or more (the histogram's 0.01 s bucket edge). */
  atLeast10ms: number;
}

/**
 * Each process's collections so far, read from the operations endpoints. Under `combined` every
 * service but execution answers for the control-plane process (one registry), so one is kept.
 */
function gcTotals(metrics: Map<string, string>, topology: Topology): Map<string, GcTotals> {
  const out = new Map<string, GcTotals>();
  for (const [service, text] of metrics) {
    const name = topology === "combined" && service !== "execution" ? CONTROL_PLANE : service;
    if (out.has(name)) continue;
    const sum = (re: RegExp) => [...text.matchAll(re)].reduce((a, m) => a + Number(m[1]), 0);
    const count = sum(/^cloister_nodejs_gc_duration_seconds_count\{[^}]*\} (\S+)/gm);
    if (count === 0) continue;
    out.set(name, {
      seconds: sum(/^cloister_nodejs_gc_duration_seconds_sum\{[^}]*\} (\S+)/gm),
      count,
      atLeast10ms: count - sum(/^cloister_nodejs_gc_duration_seconds_bucket\{[^}]*le="0\.01"[^}]*\} (\S+)/gm),
    });
  }
  return out;
}

/** Throughput, and the CPU and garbage collection each service process had per task meanwhile. */
async function measuredThroughput(
  platform: Platform,
  topology: Topology,
  c: CloisterClient,
  functionId: string,
  total: number,
  concurrency: number,
) {
  const metricsBefore = await scrape(platform);
  const before = childCpu(platform.pid, serviceName);
  const perSecond = await throughput(c, functionId, total, concurrency);
  const used = cpuBetween(before, childCpu(platform.pid, serviceName));
  const metricsAfter = await scrape(platform);
  const gcBefore = gcTotals(metricsBefore, topology);
  const gc = new Map<string, GcTotals>();
  for (const [name, after] of gcTotals(metricsAfter, topology)) {
    const b = gcBefore.get(name) ?? { seconds: 0, count: 0, atLeast10ms: 0 };
    gc.set(name, {
      seconds: after.seconds - b.seconds,
      count: after.count - b.count,
      atLeast10ms: after.atLeast10ms - b.atLeast10ms,
    });
  }
  const cpuPerTask = new Map([...used].map(([name, ms]) => [name, ms / total]));
  return {
    perSecond,
    cpuPerTask,
    gc,
    calls: callsPerTask(served(metricsBefore), served(metricsAfter), total),
  };
}

/** A platform as `cloister up` starts it under `topology`, with only the builtin executor. */
async function platformWith(topology: Topology): Promise<Platform> {
  const setup = await platformConfig(undefined, `${topologyLine(topology)}${BENCH_CONFIG}`);
  return withoutTopologyEnv(() => startPlatform(setup));
}

interface PathFigures {
  call: number;
  callP99: number;
  p50: number;
  p99: number;
  perSecond: number;
  /** Tasks/s of the untimed warm-up: the first WARM_UP_TASKS after start. */
  warmUpPerSecond: number;
  cpuPerTask: Map<string, number>;
  gc: Map<string, GcTotals>;
  rpcs: Record<string, number>;
}

/** A running platform with a signed-in client and builtin-echo registered. */
interface Subject {
  platform: Platform;
  c: CloisterClient;
  functionId: string;
}

async function subject(topology: Topology): Promise<Subject> {
  const platform = await platformWith(topology);
  const c = client(platform);
  try {
    await c.login("admin", "teaclave");
    return { platform, c, functionId: await c.registerFunction(ECHO_FUNCTION) };
  } catch (e) {
    c.close();
    await platform.stop();
    throw e;
  }
}

/** One frontend call (authentication, access control, management and one storage read), timed `n` times. */
async function frontendCalls({ c, functionId }: Subject, n: number): Promise<number[]> {
  for (let i = 0; i < 50; i++) await c.getFunctionUsageStats(functionId);
  const calls: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = process.hrtime.bigint();
    await c.getFunctionUsageStats(functionId);
    calls.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  return calls;
}

/** `n` sequential tasks' invoke → Finished, after a few untimed ones. */
async function taskLatencies({ c, functionId }: Subject, n: number): Promise<number[]> {
  for (let i = 0; i < 10; i++) await oneTask(c, functionId);
  const samples: number[] = [];
  for (let i = 0; i < n; i++) samples.push(await oneTask(c, functionId));
  return samples;
}

/**
 * The full-path figures of each topology. Every platform runs from the start, and each phase
 * (warm-up, calls, sequential tasks, throughput) runs on one topology after the other before the
 * next phase begins, so load from other work on the machine falls on both alike.
 */
async function fullPaths(
  list: Topology[],
  sequential: number,
  total: number,
  concurrency: number,
): Promise<Map<Topology, PathFigures>> {
  const subjects = new Map<Topology, Subject>();
  try {
    for (const t of list) subjects.set(t, await subject(t));
    const warmUp = new Map<Topology, number>();
    for (const [t, s] of subjects)
      warmUp.set(t, await throughput(s.c, s.functionId, WARM_UP_TASKS, concurrency));
    const calls = new Map<Topology, number[]>();
    for (const [t, s] of subjects) calls.set(t, await frontendCalls(s, 300));
    const tasks = new Map<Topology, number[]>();
    for (const [t, s] of subjects) tasks.set(t, await taskLatencies(s, sequential));
    const out = new Map<Topology, PathFigures>();
    for (const [t, s] of subjects) {
      const r = await measuredThroughput(s.platform, t, s.c, s.functionId, total, concurrency);
      out.set(t, {
        call: percentile(calls.get(t)!, 50),
        callP99: percentile(calls.get(t)!, 99),
        p50: percentile(tasks.get(t)!, 50),
        p99: percentile(tasks.get(t)!, 99),
        perSecond: r.perSecond,
        warmUpPerSecond: warmUp.get(t)!,
        cpuPerTask: r.cpuPerTask,
        gc: r.gc,
        rpcs: r.calls,
      });
    }
    return out;
  } finally {
    for (const s of subjects.values()) {
      s.c.close();
      await s.platform.stop();
    }
  }
}

const cpuSum = (f: PathFigures) => [...f.cpuPerTask.values()].reduce((a, b) => a + b, 0);

/**
 * builtin-echo through the full path (frontend → authentication → access control → management
 * → storage → scheduler → execution and back) under each topology in the same run, the phases
 * interleaved (split, then combined, in each): one frontend call beside one attested unary round trip, latency from InvokeTask to the client
 * seeing Finished (WatchTask), tasks per second with several clients at once, and the CPU each
 * process spends per task; each against its target, and combined beside split.
 */
export async function benchPlatform(
  sequential = 300,
  total = 1500,
  concurrency = 8,
): Promise<Record<string, number | string>> {
  const unary = await attestedUnaryP50();
  const crossUnary = await crossProcessAttestedP50();
  const out: Record<string, number | string> = {
    "attested mTLS unary p50 ms (client and server in one process)": unary,
    "attested mTLS unary p50 ms (server in another process)": crossUnary,
  };
  if (!topologyKnown()) out["topology key unknown to this build: only split"] = "(one process per service)";
  const figures = await fullPaths(topologies(), sequential, total, concurrency);
  for (const [topology, f] of figures) {
    const t = `[${topology}]`;
    Object.assign(out, {
      [`${t} frontend call (GetFunctionUsageStats) p50 ms`]: f.call,
      [`${t}   p99 ms`]: f.callP99,
      [`${t}   / attested unary (target ≤ ${TARGET.callRatio})`]: f.call / unary,
      [`${t}   / cross-process attested unary`]: f.call / crossUnary,
      [`${t} builtin-echo invoke→Finished p50 ms`]: f.p50,
      [`${t}   p50 / target ${TARGET.p50Ms} ms`]: f.p50 / TARGET.p50Ms,
      [`${t} builtin-echo invoke→Finished p99 ms`]: f.p99,
      [`${t}   p99 / target ${TARGET.p99Ms} ms`]: f.p99 / TARGET.p99Ms,
      [`${t} invoke→Finished p50 / frontend call p50`]: f.p50 / f.call,
      [`${t} builtin-echo tasks/s (${concurrency} clients, create+invoke+watch)`]: f.perSecond,
      [`${t}   tasks/s / target ${TARGET.tasksPerSecond}`]: f.perSecond / TARGET.tasksPerSecond,
      [`${t}   tasks/s of the first ${WARM_UP_TASKS} after start (warm-up, not a target)`]: f.warmUpPerSecond,
      ...Object.fromEntries(
        [...f.cpuPerTask]
          .sort((a, b) => b[1] - a[1])
          .map(([name, ms]) => [`${t}   CPU ms per task: ${name}`, ms]),
      ),
      [`${t}   CPU ms per task: all processes`]: cpuSum(f),
      ...Object.fromEntries(
        [...f.gc].flatMap(([name, g]) => [
          [`${t}   GC pause ms per task: ${name}`, (1000 * g.seconds) / total],
          [`${t}     collections / pauses ≥ 10 ms: ${name}`, `${g.count} / ${g.atLeast10ms}`],
        ]),
      ),
      ...Object.fromEntries(Object.entries(f.rpcs).map(([k, v]) => [`${t} ${k}`, v])),
    });
  }
  const split = figures.get("split");
  const combined = figures.get("combined");
  if (split && combined) {
    Object.assign(out, {
      "combined / split: frontend call p50": combined.call / split.call,
      "combined / split: invoke→Finished p50": combined.p50 / split.p50,
      "combined / split: invoke→Finished p99": combined.p99 / split.p99,
      "combined / split: tasks/s": combined.perSecond / split.perSecond,
      "combined / split: CPU ms per task": cpuSum(combined) / cpuSum(split),
    });
  }
  return out;
}

/** A further execution node process beside the platform's own (as a second machine would run one). */
async function extraNode(platform: Platform): Promise<ChildProcess> {
  const child = spawn(
    process.execPath,
    [CLI, "--data-dir", platform.dataDir, "--config", platform.configFile, "service", "execution"],
    {
      stdio: ["ignore", "pipe", "pipe"],
      // Its own operations endpoint: the configuration's belongs to the first node.
      env: { ...process.env, CLOISTER_OPS_LISTEN_EXECUTION: "127.0.0.1:0" },
    },
  );
  child.stderr!.resume();
  const [ready] = (await Promise.race([
    once(child.stdout!, "data"),
    once(child, "exit").then(() => {
      throw new Error("an extra execution node exited at start");
    }),
  ])) as [Buffer];
  if (!ready.toString().includes("cloister-service-ready")) throw new Error("extra execution node not ready");
  child.stdout!.resume();
  return child;
}

/**
 * Scale-out on the default topology: tasks/s with 1, 2 and 4 execution node processes on this
 * machine, and what the single-instance processes' CPU per task says about more machines: each
 * runs its JavaScript on one thread, so it uses one core at most and 1000 / (its CPU ms per
 * task) bounds the platform however many nodes are added.
 */
export async function benchScaleOut(
  nodeCounts = [1, 2, 4],
  total = 1000,
  concurrency = 8,
): Promise<Record<string, number | string>> {
  const topology = defaultTopology();
  const platform = await platformWith(topology);
  const c = client(platform);
  const extra: ChildProcess[] = [];
  const out: Record<string, number | string> = { topology };
  try {
    await c.login("admin", "teaclave");
    const functionId = await c.registerFunction(ECHO_FUNCTION);
    // Warm (JIT, connections, caches) under the same load as measured: with a few sequential
    // tasks only, the first node count measured a colder platform than the later ones.
    await throughput(c, functionId, WARM_UP_TASKS, concurrency);
    let last = new Map<string, number>();
    for (const n of nodeCounts) {
      while (extra.length < n - 1) extra.push(await extraNode(platform));
      for (let i = 0; i < 10; i++) await oneTask(c, functionId);
      const r = await measuredThroughput(platform, topology, c, functionId, total, concurrency);
      out[`tasks/s with ${n} execution node${n > 1 ? "s" : ""} (${2 * n} slots)`] = r.perSecond;
      last = r.cpuPerTask;
    }
    // Ceiling with every single-instance process on a core of its own (more machines).
    const bounds = SINGLE_INSTANCE.filter((s) => last.has(s)).map((s) => [s, 1000 / last.get(s)!] as const);
    const [bound, ceiling] = bounds.sort((a, b) => a[1] - b[1])[0] ?? ["none", Number.NaN];
    for (const [s, perCore] of bounds) {
      out[`  ${s} CPU ms per task (${nodeCounts.at(-1)} nodes)`] = last.get(s)!;
      out[`  ceiling tasks/s from ${s} CPU (one core)`] = perCore;
    }
    out[`projected tasks/s on more machines (bound: ${bound})`] = ceiling;
    out["  what bounds it"] =
      bound === CONTROL_PLANE
        ? "one control-plane process, one JS thread: more nodes or machines do not lift it"
        : `${bound} runs once per platform: more nodes or machines do not lift it`;
    out["  to grow past it"] =
      bound === CONTROL_PLANE
        ? "several control-plane replicas: needs storage on etcd and replica-safe management (not built)"
        : `several ${bound} replicas: needs storage on etcd and replica-safe management (not built)`;
    return out;
  } finally {
    c.close();
    for (const p of extra) {
      p.kill("SIGTERM");
      if (p.exitCode === null) await once(p, "exit");
    }
    await platform.stop();
  }
}
