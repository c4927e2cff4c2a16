import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { CLI, client, ECHO_FUNCTION, type Platform, platformConfig, startPlatform } from "../src/index.js";

// Execution nodes scale out: a second node started on its own (as a second pod would be) pulls
// tasks from the same scheduler, and every task still runs exactly once.
let platform: Platform;
let extraNode: ReturnType<typeof spawn>;
let extraLog = "";

before(async () => {
  const setup = await platformConfig();
  // Debug logs let the test see which executor each task was handed to.
  writeFileSync(
    setup.configFile,
    readFileSync(setup.configFile, "utf8").replace('log_level = "info"', 'log_level = "debug"'),
  );
  platform = await startPlatform(setup);
  extraNode = spawn(
    process.execPath,
    [CLI, "--data-dir", setup.dataDir, "--config", setup.configFile, "service", "execution"],
    {
      stdio: ["ignore", "pipe", "pipe"],
      // Its own operations endpoint: the configuration's is the first node's.
      env: { ...process.env, CLOISTER_OPS_LISTEN_EXECUTION: "127.0.0.1:0" },
    },
  );
  extraNode.stderr!.setEncoding("utf8").on("data", (d: string) => {
    extraLog += d;
  });
  const [ready] = (await Promise.race([
    once(extraNode.stdout!, "data"),
    once(extraNode, "exit").then(() => {
      throw new Error(`second execution node exited:\n${extraLog}`);
    }),
  ])) as [Buffer];
  assert.match(ready.toString(), /cloister-service-ready/);
});
after(async () => {
  extraNode?.kill("SIGTERM");
  if (extraNode && extraNode.exitCode === null) await once(extraNode, "exit");
  await platform?.stop();
});

const executorIdsIn = (log: string): string[] =>
  log
    .split("\n")
    .filter((l) => l.includes("execution node pulling tasks"))
    .flatMap((l) => (JSON.parse(l) as { executorIds: string[] }).executorIds);

test("a second execution node takes a share of the tasks; each task runs once", async () => {
  const c = client(platform);
  try {
    await c.login("admin", "teaclave");
    const functionId = await c.registerFunction(ECHO_FUNCTION);
    const messages = Array.from({ length: 24 }, (_, i) => `task ${i}`);
    const results = await Promise.all(
      messages.map(async (message) => {
        const taskId = await c.createTask({ functionId, arguments: { message } });
        await c.invokeTask(taskId);
        return { taskId, value: (await c.taskResult(taskId, { timeoutMs: 60_000 })).toString() };
      }),
    );
    assert.deepEqual(
      results.map((r) => r.value),
      messages,
    );

    const firstNode = new Set(
      executorIdsIn(readFileSync(join(platform.dataDir, "logs", "execution.log"), "utf8")),
    );
    const secondNode = new Set(executorIdsIn(extraLog));
    assert.equal(firstNode.size, 2);
    assert.equal(secondNode.size, 2);
    // The scheduler runs in the (default, combined) control-plane process.
    const handed = readFileSync(join(platform.dataDir, "logs", "control-plane.log"), "utf8")
      .split("\n")
      .filter((l) => l.includes("task handed to an execution node"))
      .map((l) => JSON.parse(l) as { task: string; executor: string });
    const ours = handed.filter((h) => results.some((r) => r.taskId === `task-${h.task}`));
    assert.equal(ours.length, messages.length, "each task was handed out exactly once");
    assert.ok(
      ours.some((h) => firstNode.has(h.executor)),
      "the first node ran some tasks",
    );
    assert.ok(
      ours.some((h) => secondNode.has(h.executor)),
      "the second node ran some tasks",
    );
  } finally {
    c.close();
  }
});
