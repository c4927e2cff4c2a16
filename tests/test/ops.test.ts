// Operations through a running platform (issues 11 and 12): a task's own log followed while it
// runs (participants only, bounded, ending at the terminal state), `cloister status` with nodes
// and queue depth, and the task id on every task-related log line of the services.
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { TASK_LOG_MAX_BYTES, TASK_LOG_TRUNCATED } from "@cloister/model";
import { common } from "@cloister/proto";
import type { CloisterClient, TaskLogChunk } from "@cloister/sdk";
import { type Platform, client as platformClient, startPlatform } from "../src/index.js";
import { runCli } from "./support.js";

let platform: Platform;
let admin: CloisterClient;
let bob: CloisterClient;
let work: string;
const tasks: string[] = [];

before(async () => {
  platform = await startPlatform();
  work = mkdtempSync(join(tmpdir(), "cloister-ops-"));
  admin = platformClient(platform);
  await admin.login("admin", "teaclave");
  await admin.registerUser("bob", "pw", "FunctionOwner", "");
  bob = platformClient(platform);
  await bob.login("bob", "pw");
});
after(async () => {
  admin?.close();
  bob?.close();
  await platform?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

const ARGS = [
  { key: "save_log", defaultValue: "true", allowOverwrite: true },
  { key: "n", defaultValue: "0", allowOverwrite: true },
];

/** A JavaScript function: logs a line, busy-waits `wait_ms`, logs `n` lines of 1 KiB, then a last line. */
const SOURCE = `function entrypoint(argv) {
  var a = {};
  for (var i = 0; i + 1 < argv.length; i += 2) a[argv[i]] = argv[i + 1];
  console.log("first line");
  var until = Date.now() + Number(a.wait_ms || 0);
  while (Date.now() < until) {}
  var filler = new Array(1024).join("x");
  for (var j = 0; j < Number(a.n); j++) console.log(j + " " + filler);
  console.log("last line");
  return "done";
}`;

async function startTask(args: Record<string, string>, saveLog = true): Promise<string> {
  const functionId = await admin.registerFunction({
    name: "js-logger",
    executorType: "javascript",
    payload: Buffer.from(SOURCE),
    arguments: [...ARGS, { key: "wait_ms", defaultValue: "0", allowOverwrite: true }],
  });
  const taskId = await admin.createTask({
    functionId,
    executor: "javascript",
    arguments: { save_log: saveLog ? "true" : "false", n: "0", wait_ms: "0", ...args },
  });
  tasks.push(taskId);
  await admin.invokeTask(taskId);
  return taskId;
}

const cli = (...args: string[]) =>
  runCli(["--data-dir", platform.dataDir, ...args, "--session", join(work, "admin.session.json")], {
    ...process.env,
    CLOISTER_FRONTEND: platform.frontend,
    CLOISTER_AUTHENTICATION: platform.authentication,
  });

describe("task logs", () => {
  test("a participant sees lines while the task runs, and follow ends at the terminal state", async () => {
    const taskId = await startTask({ wait_ms: "2500" });
    const seen: TaskLogChunk[] = [];
    let sawWhileRunning = false;
    for await (const chunk of admin.taskLog(taskId, { follow: true })) {
      seen.push(chunk);
      if (chunk.lines.includes("first line") && chunk.status === common.TaskStatus.Running) {
        // The task has not ended: its function is still waiting.
        const now = await admin.getTask(taskId);
        sawWhileRunning = now.status === common.TaskStatus.Running;
      }
    }
    assert.ok(sawWhileRunning, "the first line arrived while the task was still running");
    const lines = seen.flatMap((c) => c.lines);
    assert.deepEqual(lines, ["first line", "last line"]);
    // The stream ended because the task did, and the last chunk says so.
    assert.equal((await admin.getTask(taskId)).status, common.TaskStatus.Finished);
    assert.ok(seen.every((c) => c.kept && !c.truncated));

    // Without --follow: what is there now, at once. stdout carries the lines only.
    await cli("user", "login", "admin", "--password", "teaclave");
    const r = await cli("task", "logs", taskId);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "first line\nlast line\n");
    const f = await cli("task", "logs", taskId, "--follow");
    assert.equal(f.stdout, "first line\nlast line\n");
  });

  test("a Python task's print lines are seen while it runs", async () => {
    const functionId = await admin.registerFunction({
      name: "py-logger",
      executorType: "python",
      payload: Buffer.from(
        "import time\ndef entrypoint(argv):\n    print('first line')\n    time.sleep(2.5)\n    print('last line')\n    return 'done'\n",
      ),
      arguments: [ARGS[0]!],
    });
    const taskId = await admin.createTask({
      functionId,
      executor: "mesapy",
      arguments: { save_log: "true" },
    });
    tasks.push(taskId);
    await admin.invokeTask(taskId);
    const seen: TaskLogChunk[] = [];
    let sawWhileRunning = false;
    for await (const chunk of admin.taskLog(taskId, { follow: true })) {
      seen.push(chunk);
      if (chunk.lines.includes("first line") && chunk.status === common.TaskStatus.Running) {
        sawWhileRunning = (await admin.getTask(taskId)).status === common.TaskStatus.Running;
      }
    }
    assert.ok(sawWhileRunning, "the first line arrived while the task was still running");
    assert.deepEqual(
      seen.flatMap((c) => c.lines),
      ["first line", "last line"],
    );
    assert.equal((await admin.getTask(taskId)).status, common.TaskStatus.Finished);
  });

  test("a non-participant is refused, like GetTask", async () => {
    const taskId = tasks[0]!;
    await assert.rejects(
      (async () => {
        for await (const _ of bob.taskLog(taskId)) break;
      })(),
      (e: { code?: number }) => e.code === 7,
    );
    await assert.rejects(bob.getTask(taskId), (e: { code?: number }) => e.code === 7);
  });

  test("the log is bounded (1 MiB, then one truncation marker)", async () => {
    const taskId = await startTask({ n: "1100" });
    await admin.waitForTask(taskId, { timeoutMs: 60_000 });
    const chunks: TaskLogChunk[] = [];
    for await (const c of admin.taskLog(taskId)) chunks.push(c);
    const lines = chunks.flatMap((c) => c.lines);
    assert.ok(chunks.some((c) => c.truncated));
    assert.equal(lines.at(-1), TASK_LOG_TRUNCATED);
    const kept = lines.slice(0, -1);
    assert.ok(kept.reduce((n, l) => n + Buffer.byteLength(l), 0) <= TASK_LOG_MAX_BYTES);
    assert.ok(kept.length > 900 && kept.length < 1100, `${kept.length} lines kept`);
    assert.equal(kept[0], "first line");
    assert.ok(!lines.includes("last line"));
  });

  test("a task without save_log keeps no log, and says so", async () => {
    const taskId = await startTask({}, false);
    await admin.waitForTask(taskId, { timeoutMs: 60_000 });
    const chunks: TaskLogChunk[] = [];
    for await (const c of admin.taskLog(taskId, { follow: true })) chunks.push(c);
    assert.equal(chunks.length, 1);
    assert.equal(chunks[0]!.kept, false);
    assert.deepEqual(chunks[0]!.lines, []);
  });
});

describe("platform status", () => {
  test("an admin sees nodes with slots, executors and heartbeats; others see counts", async () => {
    const deadline = Date.now() + 20_000;
    let s = await admin.platformStatus();
    // The scheduler refreshes its snapshot every few seconds: wait for one taken after the tasks above.
    while ((s.nodeCount === 0 || Number(s.queueDepth) !== 0 || s.slotsBusy !== 0) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 500));
      s = await admin.platformStatus();
    }
    assert.equal(s.detailed, true);
    assert.equal(s.nodeCount, 1);
    const node = s.nodes[0]!;
    assert.ok(node.node?.executors.includes("javascript/javascript"), String(node.node?.executors));
    assert.ok(node.slots.length >= 1 && s.slotsTotal === node.slots.length);
    assert.ok(node.slots.every((x) => Number(x.lastSeenMsAgo) < 60_000));
    assert.equal(Number(s.queueDepth), 0);

    const counts = await bob.platformStatus();
    assert.equal(counts.detailed, false);
    assert.deepEqual(counts.nodes, []);
    assert.equal(counts.nodeCount, 1);
    assert.equal(counts.slotsTotal, s.slotsTotal);

    const r = await cli("--config", platform.configFile, "status", "-o", "json");
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout);
    assert.ok(j.platform, j.platform_note);
    assert.equal(j.platform.node_count, 1);
    assert.equal(j.platform.nodes[0].executors.includes("javascript/javascript"), true);
    const human = await cli("--config", platform.configFile, "status", "-o", "wide");
    assert.match(human.stdout, /NODE\s+BUSY\/FREE\s+EXECUTORS\s+LAST HEARTBEAT\s+EPC\s+RUNNING/);
  });
});

describe("structured logs", () => {
  test("every task-related line of the services carries the task id", () => {
    const uuids = tasks.map((t) => t.replace(/^task-/, ""));
    const logs = join(platform.dataDir, "logs");
    const records = readdirSync(logs)
      .filter((f) => f.endsWith(".log"))
      .flatMap((f) => readFileSync(join(logs, f), "utf8").split("\n"))
      .filter((l) => l.startsWith("{"))
      .flatMap((l) => {
        try {
          return [JSON.parse(l) as Record<string, unknown>];
        } catch {
          return [];
        }
      });
    const related = records.filter(
      (r) => /\btask\b/i.test(String(r.msg ?? "")) || uuids.some((u) => JSON.stringify(r).includes(u)),
    );
    assert.ok(related.length >= tasks.length, `${related.length} task lines`);
    const missing = related.filter((r) => typeof r.task !== "string" || !/^[0-9a-f-]{36}$/.test(r.task));
    assert.deepEqual(
      missing.map((r) => `${r.name}: ${r.msg}`),
      [],
      "task lines without a task id",
    );
  });
});
