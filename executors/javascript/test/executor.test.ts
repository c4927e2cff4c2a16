// The JavaScript executor end to end: payloads run in QuickJS inside bubblewrap sandboxes.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { MemoryRuntime, request as wasmRequest } from "@cloister/executor-wasm/test-support";
import { type ExecutionRequest, TaskFailure } from "@cloister/runtime";
import { JavascriptExecutor } from "../src/executor.js";

type Opts = Parameters<typeof wasmRequest>[1];
const request = (source: string, opts: Opts = {}): ExecutionRequest =>
  wasmRequest(Buffer.from(source), { executorType: "javascript", executor: "javascript", ...opts });

async function failure(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof TaskFailure, `expected TaskFailure, got ${String(e)}`);
    return e.message;
  }
  assert.fail("expected the task to fail");
}

describe("JavascriptExecutor (sandboxed)", () => {
  let executor: JavascriptExecutor;
  before(async () => {
    executor = new JavascriptExecutor({ poolSize: 2, memoryBytes: 16 << 20, maxOutputBytes: 1 << 16 });
    await executor.start();
  });
  after(() => executor.close());

  const echo = () =>
    executor.execute(request("function entrypoint(argv) { return argv[1]; }", { args: { message: "hi" } }));

  it("accepts only (javascript, javascript)", async () => {
    assert.deepEqual(executor.accepts, [["javascript", "javascript"]]);
    assert.equal(
      await failure(executor.execute(request("", { executor: "mesapy" }))),
      "function not available: (javascript, mesapy)",
    );
  });

  it("runs entrypoint(argv) with flattened arguments, files and logs", async () => {
    const runtime = new MemoryRuntime(new Map([["in", Buffer.from("data")]]), ["out"]);
    const source = `function entrypoint(argv) {
      const f = teaclave.open("in", "rb"); const text = f.readText(); f.close();
      const o = teaclave.open("out", "wb"); o.write(text + "!"); o.close();
      teaclave.log("read", text.length);
      return argv.join(" ");
    }`;
    assert.equal(
      await executor.execute(request(source, { args: { b: 1.5, a: [1, { z: 1, y: 2 }] }, runtime })),
      'a [1,{"y":2,"z":1}] b 1.5',
    );
    assert.equal(runtime.outputs.get("out")?.toString(), "data!");
    assert.deepEqual(runtime.logs, ["read 4"]);
  });

  it("sends console.log and console.error to the task log, also when the task fails", async () => {
    const runtime = new MemoryRuntime(new Map(), []);
    const source = `function entrypoint() {
      console.log("step", 1, { ok: true }); console.error(new Error("oops"));
      throw new TypeError("late");
    }`;
    assert.equal(
      await failure(executor.execute(request(source, { runtime }))),
      "JS_EXEC_ERROR: TypeError: late",
    );
    assert.deepEqual(runtime.logs, ['step 1 {"ok":true}', "Error: oops"]);
  });

  it("gives every task a fresh runtime in a reused worker, per function", async () => {
    const source = `var seen = typeof globalThis.leftOver + " " + typeof [].leak;
      globalThis.leftOver = "secret"; Array.prototype.leak = "secret"; Object.prototype.x = 1;
      function entrypoint() { return seen; }`;
    const run = (functionId: string) => executor.execute(request(source, { functionId }));
    assert.equal(await run("js-a"), "undefined undefined");
    const started = executor.stats().started;
    assert.equal(await run("js-a"), "undefined undefined");
    assert.equal(executor.stats().started, started, "the worker is reused");
    assert.equal(await run("js-b"), "undefined undefined");
  });

  it("replaces a worker whose task failed", async () => {
    const ok = request("function entrypoint() { return 'ok'; }", { functionId: "js-fail" });
    assert.equal(await executor.execute(ok), "ok");
    const replaced = executor.stats().replaced;
    await failure(executor.execute(request("function entrypoint() { throw 1; }", { functionId: "js-fail" })));
    assert.equal(executor.stats().replaced, replaced + 1);
    assert.equal(await executor.execute(ok), "ok");
  });

  it("fails a throwing payload with JS_EXEC_ERROR", async () => {
    assert.equal(
      await failure(executor.execute(request("function entrypoint() { throw new Error('mine'); }"))),
      "JS_EXEC_ERROR: Error: mine",
    );
  });

  it("stops a runaway loop and keeps serving", async () => {
    const r = executor.execute(
      request("function entrypoint() { for (;;) {} }", { limits: { timeoutMs: 300 } }),
    );
    assert.equal(await failure(r), "time limit exceeded");
    assert.equal(await echo(), "hi");
  });

  it("stops the code on cancel and keeps serving", async () => {
    const ac = new AbortController();
    const r = executor.execute(request("function entrypoint() { for (;;) {} }", { signal: ac.signal }));
    setTimeout(() => ac.abort(), 200);
    assert.equal(await failure(r), "Task Canceled by the user");
    assert.equal(await echo(), "hi");
  });

  it("reports a memory bomb as the memory limit and keeps serving", async () => {
    const bomb = "function entrypoint() { const a = []; for (;;) a.push(new Uint8Array(1 << 20)); }";
    assert.equal(await failure(executor.execute(request(bomb))), "memory limit exceeded");
    assert.equal(await echo(), "hi");
  });

  it("bounds outputs and return values", async () => {
    const runtime = new MemoryRuntime(new Map(), ["out"]);
    const flood =
      "function entrypoint() { const o = teaclave.open('out', 'wb'); for (;;) o.write('x'.repeat(4096)); }";
    assert.equal(
      await failure(executor.execute(request(flood, { runtime }))),
      "output limit exceeded: the task's outputs may hold at most 65536 bytes",
    );
    assert.equal(runtime.outputs.size, 0);
    const big = "function entrypoint() { return 'x'.repeat(2048); }";
    assert.equal(
      await failure(executor.execute(request(big, { limits: { maxReturnBytes: 1024 } }))),
      "return value limit exceeded",
    );
  });

  it("escape attempts fail: host objects, modules, host files, environment", async () => {
    const probe = `function entrypoint() {
      return [typeof process, typeof require, typeof fetch, typeof WebSocket, typeof std, typeof os].join(",");
    }`;
    assert.equal(
      await executor.execute(request(probe)),
      "undefined,undefined,undefined,undefined,undefined,undefined",
    );
    assert.equal(
      await failure(
        executor.execute(request("async function entrypoint() { await import('child_process'); }")),
      ),
      "JS_EXEC_ERROR: ReferenceError: could not load module 'child_process'",
    );
    assert.equal(
      await failure(
        executor.execute(request("function entrypoint() { teaclave.open('/etc/passwd', 'rb'); }")),
      ),
      'JS_EXEC_ERROR: Error: teaclave.open: no input named "/etc/passwd"',
    );
    assert.equal(
      await failure(executor.execute(request("function entrypoint() { return process.env.SECRET; }"))),
      "JS_EXEC_ERROR: ReferenceError: 'process' is not defined",
    );
  });
});
