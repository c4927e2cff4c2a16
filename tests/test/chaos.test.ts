import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, test } from "node:test";
import type { CloisterClient } from "@cloister/sdk";
import { client, ECHO_FUNCTION, type Platform, platformConfig, startPlatform } from "../src/index.js";

// The outside attack run's pattern, reduced: tasks from 4 clients while kill -9 takes down each
// service of a supervised `cloister up` in turn, and then the whole platform once. Every task a
// client got acknowledged must end Finished with its own result, and no task may have its
// result accepted from two runs (leases fence a re-run off from the run it replaced).

const TASKS = 60;
const CLIENTS = 4;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let platform: Platform | undefined;
after(async () => {
  await platform?.stop();
});

/** The services `cloister up` (pid `up`) runs: service name → pid. */
function servicesOf(up: number): Map<string, number> {
  const out = new Map<string, number>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid !== up) continue;
      const argv = readFileSync(`/proc/${entry}/cmdline`, "utf8").split("\0");
      const i = argv.indexOf("service");
      if (i >= 0 && argv[i + 1]) out.set(argv[i + 1]!, Number(entry));
    } catch {
      // the process ended meanwhile
    }
  }
  return out;
}

/** Retries `fn` through an outage (a killed service is back within seconds). */
async function retry<T>(what: string, fn: () => Promise<T>, timeoutMs = 90_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await fn();
    } catch (e) {
      if (Date.now() > deadline) throw new Error(`${what}: still failing after ${timeoutMs} ms: ${e}`);
      await sleep(250);
    }
  }
}

const SLOW_ECHO =
  "function entrypoint(argv) { const end = Date.now() + 300; while (Date.now() < end) {} return argv[1]; }";
const STAGED = 3; // TaskStatus.Staged: below it, the invocation did not take effect

/** The load and the kills, under `topology`: each of `victims` (process names) once, then everything. */
async function chaos(topology: "split" | "combined", victims: readonly string[]): Promise<void> {
  const setup = await platformConfig(
    undefined,
    // A short node timeout so a lease of a killed node expires within the test.
    `topology = "${topology}"\n[execution]\nheartbeat_timeout_secs = 4\ntask_max_attempts = 6\nexecutors = ["builtin", "javascript"]\n`,
  );
  platform = await startPlatform(setup);
  const clients: CloisterClient[] = Array.from({ length: CLIENTS }, () => client(platform!));
  const acked: Array<{ taskId: string; message: string }> = [];
  const kills: string[] = [];
  try {
    for (const c of clients) await retry("login", () => c.login("admin", "teaclave"));
    const echoId = await retry("register", () => clients[0]!.registerFunction(ECHO_FUNCTION));
    // Half the tasks take a while (a sandboxed busy loop), so kills find tasks in flight.
    const slowId = await retry("register", () =>
      clients[0]!.registerFunction({
        name: "slow-echo",
        description: "busy for 300 ms, then echoes",
        executorType: "javascript",
        payload: Buffer.from(SLOW_ECHO),
        arguments: [{ key: "message", defaultValue: "", allowOverwrite: true }],
      }),
    );

    const submit = async (c: CloisterClient, n: number) => {
      const message = `chaos ${n}`;
      const slow = n % 2 === 1;
      const taskId = await retry("create", () =>
        c.createTask({
          functionId: slow ? slowId : echoId,
          arguments: { message },
          executor: slow ? "javascript" : "builtin",
        }),
      );
      await retry("invoke", async () => {
        try {
          await c.invokeTask(taskId);
        } catch (e) {
          // The answer may have been lost after the invocation took effect.
          if ((await c.getTask(taskId)).status < STAGED) throw e;
        }
      });
      acked.push({ taskId, message });
    };
    let next = 0;
    const load = clients.map(async (c) => {
      while (next < TASKS) {
        const n = next++;
        await submit(c, n);
        await sleep(100);
      }
    });

    // One kill per service while the load runs, each once some more tasks were acknowledged.
    const killer = (async () => {
      for (const [i, name] of victims.entries()) {
        while (acked.length < (i + 1) * 7) await sleep(50);
        const pid = servicesOf(platform!.pid).get(name);
        assert.ok(pid, `${name} is running under cloister up`);
        process.kill(pid, "SIGKILL");
        kills.push(name);
      }
      while (acked.length < 48) await sleep(50);
      // Everything at once: the supervisor and every service, then a fresh `cloister up`.
      const pids = [platform!.pid, ...servicesOf(platform!.pid).values()];
      for (const pid of pids) process.kill(pid, "SIGKILL");
      kills.push("everything");
      await sleep(500);
      platform = await startPlatform(setup);
    })();
    await Promise.all([killer, ...load]);
    assert.deepEqual(kills, [...victims, "everything"]);
    assert.equal(acked.length, TASKS);

    const results = await Promise.all(
      acked.map(({ taskId }, i) =>
        retry(
          "result",
          async () => {
            const c = clients[i % CLIENTS]!;
            const task = await c.waitForTask(taskId, { timeoutMs: 60_000, pollMs: 250 });
            return {
              task,
              value: task.result?.Ok
                ? Buffer.from(task.result.Ok.returnValue).toString()
                : task.result?.Err?.reason,
            };
          },
          120_000,
        ),
      ),
    );
    const lost = acked
      .map((a, i) => ({ ...a, status: results[i]!.task.status, value: results[i]!.value }))
      .filter((a) => a.value !== a.message);
    assert.deepEqual(lost, [], "every acknowledged task finished with its own result");

    // Runs whose result the scheduler accepted, from every execution node that ever ran.
    const log = readFileSync(join(setup.dataDir, "logs", "execution.log"), "utf8").split("\n");
    const accepted = new Map<string, number[]>();
    const started = new Map<string, number>();
    for (const line of log) {
      if (!line.startsWith("{")) continue;
      const entry = JSON.parse(line) as { msg?: string; task?: string; generation?: number };
      if (!entry.task) continue;
      if (entry.msg === "task finished")
        accepted.set(entry.task, [...(accepted.get(entry.task) ?? []), entry.generation ?? 0]);
      if (entry.msg === "task started") started.set(entry.task, (started.get(entry.task) ?? 0) + 1);
    }
    const ours = acked.map((a) => a.taskId.replace(/^task-/, ""));
    const twice = ours.filter((t) => (accepted.get(t)?.length ?? 0) > 1);
    assert.deepEqual(twice, [], "no task had a result accepted from two runs");
    // Log lines still in a killed process's buffers are gone; nearly every run must be there.
    const seen = ours.filter((t) => accepted.has(t)).length;
    assert.ok(seen >= TASKS - 6, `only ${seen} of ${TASKS} accepted runs are in the execution logs`);
    const reruns = ours.filter((t) => (started.get(t) ?? 0) > 1).length;
    console.log(
      `chaos (${topology}): ${TASKS} tasks, kills: ${kills.join(", ")}; accepted runs logged: ${seen}; tasks started more than once: ${reruns}; data: ${setup.dataDir}`,
    );
  } finally {
    for (const c of clients) c.close();
    await platform?.stop();
    platform = undefined;
  }
}

test("split: kill -9 of each service, then of everything: no acknowledged task lost or run twice", () =>
  chaos("split", ["storage", "scheduler", "execution", "authentication", "management", "frontend"]));

test("combined: kill -9 of the control plane, of the node, then of everything: no acknowledged task lost or run twice", () =>
  chaos("combined", ["control-plane", "execution"]));
