// Untrusted executors through the whole platform (issue 8): a raising or trapping function is a
// failure for Cloister's SDK and CLI, while the Teaclave wire keeps the legacy Ok result; a
// python function runs as plain Python 3 when its task asks for python3.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { common } from "@cloister/proto";
import type { CloisterClient, TaskExecutor } from "@cloister/sdk";
import { type Platform, client as platformClient, startPlatform } from "../src/index.js";
import { runCli } from "./support.js";

let platform: Platform;
let c: CloisterClient;
let work: string;

before(async () => {
  platform = await startPlatform();
  work = mkdtempSync(join(tmpdir(), "cloister-exec-e2e-"));
  c = platformClient(platform);
  await c.login("admin", "teaclave");
});
after(async () => {
  c?.close();
  await platform?.stop();
  rmSync(work, { recursive: true, force: true });
});

const ARG = [{ key: "message", defaultValue: "", allowOverwrite: true }];

async function runTask(executorType: string, executor: TaskExecutor, payload: Buffer): Promise<string> {
  const functionId = await c.registerFunction({
    name: `f-${executor}`,
    executorType,
    payload,
    arguments: ARG,
  });
  const taskId = await c.createTask({ functionId, executor, arguments: { message: "hi" } });
  await c.invokeTask(taskId);
  await c.waitForTask(taskId, { timeoutMs: 60_000 });
  return taskId;
}

const cli = (...args: string[]) =>
  runCli(["--data-dir", platform.dataDir, ...args, "--session", join(work, "admin.session.json")]);

describe("executors through the platform", () => {
  test("Python with numpy runs as a MesaPy task", async () => {
    const src =
      "import numpy as np\ndef entrypoint(argv):\n    return argv[1] + str(int(np.arange(5).sum()))\n";
    const taskId = await runTask("python", "mesapy", Buffer.from(src));
    assert.equal((await c.taskResult(taskId)).toString(), "hi10");
  });

  test("a raising MesaPy function: failed for the SDK and CLI, MESAPY_EXEC_ERROR on the Teaclave wire", async () => {
    const src = "def entrypoint(argv):\n    return 1 / 0\n";
    const taskId = await runTask("python", "mesapy", Buffer.from(src));
    const reason = "MESAPY_EXEC_ERROR: ZeroDivisionError: division by zero";
    const task = await c.getTask(taskId);
    assert.equal(task.status, common.TaskStatus.Finished);
    assert.equal(Buffer.from(task.result!.Ok!.returnValue).toString(), "MESAPY_EXEC_ERROR");
    assert.equal(task.result!.Ok!.cloisterFailure, reason);
    await assert.rejects(c.taskResult(taskId), (e: Error) => e.message.includes(reason));

    await cli(
      "user",
      "login",
      "admin",
      "--password",
      "teaclave",
      "--authentication",
      platform.authentication,
      "--frontend",
      platform.frontend,
    );
    const r = await cli("task", "result", taskId);
    assert.equal(r.code, 1, r.stdout);
    assert.ok(r.stderr.includes(reason), r.stderr);
    const shown = await cli("task", "get", taskId);
    assert.equal(shown.code, 0, shown.stderr);
    assert.ok(shown.stdout.includes("function failed") && shown.stdout.includes(reason), shown.stdout);
  });

  test("a python function runs as plain Python 3 (python3) from the SDK and the CLI", async () => {
    // No MesaPy shim: argv is str, but file data and results follow Python 3 (bytes stay bytes).
    const src = [
      "import numpy as np",
      "def entrypoint(argv):",
      "    return '%s %s %d' % (argv[1], type(b'').__name__, int(np.ones(3).sum()))",
    ].join("\n");
    const taskId = await runTask("python", "python3", Buffer.from(src));
    assert.equal((await c.taskResult(taskId)).toString(), "hi bytes 3");
    // A raising Python 3 function is an Err with the exception text (no legacy Ok result).
    const raising = await runTask(
      "python",
      "python3",
      Buffer.from("def entrypoint(argv):\n    raise KeyError('k')\n"),
    );
    assert.equal((await c.getTask(raising)).result?.Err?.reason, "PYTHON_EXEC_ERROR: KeyError: 'k'");

    writeFileSync(join(work, "p3.py"), src);
    await cli(
      "user",
      "login",
      "admin",
      "--password",
      "teaclave",
      "--authentication",
      platform.authentication,
      "--frontend",
      platform.frontend,
    );
    const reg = await cli(
      "function",
      "register",
      "--name",
      "p3",
      "--executor-type",
      "python",
      "--payload",
      join(work, "p3.py"),
      "--argument",
      "message",
    );
    assert.equal(reg.code, 0, reg.stderr);
    const created = await cli(
      "task",
      "create",
      "--function",
      reg.stdout.trim(),
      "--executor",
      "python3",
      "--args",
      '{"message":"cli"}',
    );
    assert.equal(created.code, 0, created.stderr);
    const id = created.stdout.trim();
    assert.equal((await cli("task", "invoke", id)).code, 0);
    const r = await cli("task", "result", id);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), "cli bytes 3");
  });

  test("a trapping WebAssembly function: failed for the SDK, WAMR's text on the Teaclave wire", async () => {
    writeFileSync(join(work, "trap.c"), "int entrypoint(int argc, char **argv) { __builtin_trap(); }\n");
    execFileSync("clang", [
      "--target=wasm32",
      "-O2",
      "-nostdlib",
      "-Wl,--no-entry",
      "-Wl,--export=entrypoint",
      "-o",
      join(work, "trap.wasm"),
      join(work, "trap.c"),
    ]);
    const taskId = await runTask("wamr", "wamr", readFileSync(join(work, "trap.wasm")));
    const task = await c.getTask(taskId);
    assert.equal(Buffer.from(task.result!.Ok!.returnValue).toString(), "Exception: unreachable");
    assert.equal(task.result!.Ok!.cloisterFailure, "WASM_TRAP: Exception: unreachable");
    await assert.rejects(c.taskResult(taskId), /WASM_TRAP: Exception: unreachable/);
  });

  test("a throwing JavaScript function fails with an Err and the exception text", async () => {
    const src = "function entrypoint(argv) { console.log('seen', argv[1]); throw new Error('no'); }";
    const functionId = await c.registerFunction({
      name: "js-throw",
      executorType: "javascript",
      payload: Buffer.from(src),
      arguments: ARG,
    });
    const taskId = await c.createTask({ functionId, executor: "javascript", arguments: { message: "hi" } });
    await c.invokeTask(taskId);
    const task = await c.waitForTask(taskId, { timeoutMs: 60_000 });
    assert.equal(task.result?.Err?.reason, "JS_EXEC_ERROR: Error: no");
  });
});
