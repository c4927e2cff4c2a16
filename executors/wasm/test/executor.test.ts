// The WebAssembly executor end to end: payloads run in bubblewrap sandboxes from the pool.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { TaskFailure } from "@cloister/runtime";
import { WasmExecutor } from "../src/executor.js";
import { MemoryRuntime, request } from "./memory-runtime.js";
import { compileC, compileRust, fixture } from "./toolchain.js";

async function failure(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof TaskFailure, `expected TaskFailure, got ${String(e)}`);
    return e.message;
  }
  assert.fail("expected the task to fail");
}

describe("WasmExecutor (sandboxed)", () => {
  let executor: WasmExecutor;
  let probes: Uint8Array;
  let adder: Uint8Array;
  before(async () => {
    executor = new WasmExecutor({ poolSize: 2, memoryBytes: 64 << 20, maxOutputBytes: 1 << 20 });
    probes = compileC("probes.c");
    adder = compileC("simple_add.c");
    await executor.start();
  });
  after(() => executor.close());

  const add = () => executor.execute(request(adder, { args: { adder1: 3, adder2: "4" } }));

  it("accepts only (wamr, wamr)", async () => {
    assert.deepEqual(executor.accepts, [["wamr", "wamr"]]);
    assert.equal(
      await failure(executor.execute(request(adder, { executorType: "wamr", executor: "mesapy" }))),
      "function not available: (wamr, mesapy)",
    );
  });

  it("runs the adder with flattened arguments", async () => {
    assert.equal(await add(), "7");
  });

  it("runs the millionaire problem and delivers its output through the runtime", async () => {
    const dir = "functions/wamr_c_millionaire_problem/";
    const runtime = new MemoryRuntime(
      new Map([
        ["pf_in_a", fixture(`${dir}input_a.txt`)],
        ["pf_in_b", fixture(`${dir}input_b.txt`)],
      ]),
      ["pf_out"],
    );
    assert.equal(await executor.execute(request(compileC("millionaire.c"), { runtime })), "7");
    assert.deepEqual(runtime.outputs.get("pf_out"), fixture(`${dir}expected_output.txt`));
  });

  it("runs the Rust PSI payload", async () => {
    const runtime = new MemoryRuntime(
      new Map([
        ["input_data1", fixture("functions/wamr_rust_psi/psi0.txt")],
        ["input_data2", fixture("functions/wamr_rust_psi/psi1.txt")],
      ]),
      ["output_result"],
    );
    const count = Number(await executor.execute(request(compileRust("psi.rs"), { runtime })));
    assert.ok(count > 0);
    assert.equal(runtime.outputs.get("output_result")?.toString().split("\n").filter(Boolean).length, count);
  });

  it("fails a trap, keeping WAMR's text as the legacy return value", async () => {
    const e = await executor.execute(request(probes, { args: { mode: "trap" } })).catch((x: unknown) => x);
    assert.ok(e instanceof TaskFailure);
    assert.equal(e.message, "WASM_TRAP: Exception: unreachable");
    assert.equal(e.legacyReturnValue, "Exception: unreachable");
  });

  it("gives every task a fresh instance in a reused worker, per function", async () => {
    const count = (functionId: string) =>
      executor.execute(request(probes, { args: { mode: "count" }, functionId }));
    assert.equal(await count("fn-a"), "42");
    const started = executor.stats().started;
    // Same worker (nothing new started), yet the static counter starts from its initial value.
    assert.equal(await count("fn-a"), "42");
    assert.equal(await count("fn-a"), "42");
    assert.equal(executor.stats().started, started);
    // Another function never gets that worker.
    assert.equal(await count("fn-b"), "42");
    assert.ok(executor.stats().started > started);
  });

  it("replaces a worker after a trap", async () => {
    const fn = "fn-trap";
    assert.equal(await executor.execute(request(probes, { args: { mode: "count" }, functionId: fn })), "42");
    const replaced = executor.stats().replaced;
    await assert.rejects(executor.execute(request(probes, { args: { mode: "trap" }, functionId: fn })));
    assert.equal(executor.stats().replaced, replaced + 1);
    assert.equal(await executor.execute(request(probes, { args: { mode: "count" }, functionId: fn })), "42");
  });

  it("kills a runaway loop at the deadline and keeps serving", async () => {
    const r = executor.execute(request(probes, { args: { mode: "spin" }, limits: { timeoutMs: 500 } }));
    assert.equal(await failure(r), "time limit exceeded");
    assert.equal(await add(), "7");
  });

  it("stops the code on cancel and keeps serving", async () => {
    const ac = new AbortController();
    const r = executor.execute(request(probes, { args: { mode: "spin" }, signal: ac.signal }));
    setTimeout(() => ac.abort(), 200);
    assert.equal(await failure(r), "Task Canceled by the user");
    assert.equal(await add(), "7");
  });

  it("reports a memory bomb as the memory limit", async () => {
    assert.equal(
      await failure(executor.execute(request(compileRust("alloc_bomb.rs")))),
      "memory limit exceeded",
    );
    // A task may ask for less memory than the executor allows, never more.
    assert.equal(
      await failure(
        executor.execute(request(compileRust("alloc_bomb.rs"), { limits: { memoryBytes: 4 << 20 } })),
      ),
      "memory limit exceeded",
    );
    assert.equal(await add(), "7");
  });

  it("bounds outputs", async () => {
    const runtime = new MemoryRuntime(new Map(), ["out"]);
    assert.equal(
      await failure(executor.execute(request(probes, { args: { mode: "flood" }, runtime }))),
      "output limit exceeded: the task's outputs may hold at most 1048576 bytes",
    );
    assert.equal(runtime.outputs.size, 0);
  });

  it("rejects a module with an unknown import before running it", async () => {
    assert.equal(
      await failure(executor.execute(request(compileC("escape_wasi.c")))),
      'Invalid WebAssembly module: unknown import "wasi_snapshot_preview1"."fd_write" (only env.teaclave_* functions are provided)',
    );
  });

  it("cannot name host files as inputs", async () => {
    const runtime = new MemoryRuntime(new Map([["mine", Buffer.from("x")]]));
    const r = await executor.execute(
      request(probes, { args: { mode: "host-file", path: "/etc/passwd" }, runtime }),
    );
    assert.equal(r, "-1");
  });
});
