// The in-sandbox part of the WebAssembly executor, run directly in this process.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type GuestResult, runWasmGuest, type WasmGuestRequest } from "../src/guest.js";
import { compileC, compileRust, fixture } from "./toolchain.js";

const LIMITS = { maxMemoryPages: 256, maxOutputBytes: 1 << 20 };

function run(payload: Uint8Array, overrides: Partial<WasmGuestRequest> = {}): GuestResult {
  return runWasmGuest({
    payload,
    argv: [],
    inputs: new Map(),
    outputNames: [],
    limits: LIMITS,
    ...overrides,
  });
}

function ok(r: GuestResult): Extract<GuestResult, { ok: true }> {
  assert.equal(r.ok, true, r.ok ? "" : r.reason);
  return r as Extract<GuestResult, { ok: true }>;
}

describe("wasm guest: payload ABI", () => {
  it("runs the simple adder with argv laid out as [k1, v1, k2, v2]", () => {
    const r = ok(run(compileC("simple_add.c"), { argv: ["adder1", "3", "adder2", "4"] }));
    assert.equal(r.returnValue, "7");
    assert.equal(r.outputs.size, 0);
  });

  it("passes argc = number of strings and renders negative returns in signed decimal", () => {
    const probes = compileC("probes.c");
    assert.equal(ok(run(probes, { argv: ["mode", "argc", "x", "y", "z", "w"] })).returnValue, "6");
    assert.equal(ok(run(probes, { argv: ["mode", "negative"] })).returnValue, "-42");
  });

  it("solves the millionaire problem from the Teaclave fixtures", () => {
    const dir = "functions/wamr_c_millionaire_problem/";
    const r = ok(
      run(compileC("millionaire.c"), {
        inputs: new Map([
          ["pf_in_a", fixture(`${dir}input_a.txt`)],
          ["pf_in_b", fixture(`${dir}input_b.txt`)],
        ]),
        outputNames: ["pf_out"],
      }),
    );
    const expected = fixture(`${dir}expected_output.txt`);
    assert.deepEqual(Buffer.from(r.outputs.get("pf_out")!), expected);
    assert.equal(r.returnValue, String(expected.length));
  });

  it("computes a private set intersection in a Rust payload", () => {
    const a = fixture("functions/wamr_rust_psi/psi0.txt");
    const b = fixture("functions/wamr_rust_psi/psi1.txt");
    const theirs = new Set(b.toString().split("\n").filter(Boolean));
    const common = a
      .toString()
      .split("\n")
      .filter((l) => l && theirs.has(l));
    assert.ok(common.length > 0);
    const r = ok(
      run(compileRust("psi.rs"), {
        inputs: new Map([
          ["input_data1", a],
          ["input_data2", b],
        ]),
        outputNames: ["output_result"],
      }),
    );
    assert.equal(r.returnValue, String(common.length));
    assert.equal(
      Buffer.from(r.outputs.get("output_result")!).toString(),
      common.map((l) => `${l}\n`).join(""),
    );
  });

  it("numbers handles and reports -1 exactly as the legacy contract says", () => {
    const r = ok(
      run(compileC("probes.c"), {
        argv: ["mode", "handles"],
        inputs: new Map([["in", Buffer.from("hello world")]]),
        outputNames: ["out"],
      }),
    );
    assert.equal(r.returnValue, "11");
    assert.equal(Buffer.from(r.outputs.get("out")!).toString(), "hello world");
  });

  it("turns traps into the legacy return value instead of a failure", () => {
    const probes = compileC("probes.c");
    assert.equal(ok(run(probes, { argv: ["mode", "trap"] })).returnValue, "Exception: unreachable");
    assert.equal(
      ok(run(probes, { argv: ["mode", "divzero"] })).returnValue,
      "Exception: integer divide by zero",
    );
    assert.equal(
      ok(run(probes, { argv: ["mode", "oob"] })).returnValue,
      "Exception: out of bounds memory access",
    );
    // C keeps its frames on a shadow stack in linear memory; overflowing it runs off address 0.
    assert.equal(
      ok(run(probes, { argv: ["mode", "recurse"] })).returnValue,
      "Exception: out of bounds memory access",
    );
    assert.equal(
      ok(run(probes, { argv: ["mode", "native-recurse"] })).returnValue,
      "Exception: native stack overflow",
    );
  });

  it("keeps the outputs written before a trap", () => {
    const r = ok(run(compileC("probes.c"), { argv: ["mode", "bad-pointer"], outputNames: ["out"] }));
    assert.equal(r.returnValue, "Exception: out of bounds memory access");
    assert.deepEqual([...r.outputs.keys()], ["out"]);
  });

  it("fails a module without entrypoint, or that is not wasm, with a clear reason", () => {
    assert.deepEqual(run(Buffer.from("not wasm")), {
      ok: false,
      reason:
        "Invalid WebAssembly module: WebAssembly.Module(): expected magic word 00 61 73 6d, found 6e 6f 74 20 @+0",
    });
    // (module (memory (export "memory") 1)): valid, but nothing to call.
    const noEntry = Uint8Array.from([
      0, 97, 115, 109, 1, 0, 0, 0, 5, 3, 1, 0, 1, 7, 10, 1, 6, 109, 101, 109, 111, 114, 121, 2, 0,
    ]);
    assert.deepEqual(run(noEntry), {
      ok: false,
      reason: 'Invalid WebAssembly module: no exported function "entrypoint" of type (i32, i32) -> i32',
    });
  });
});

describe("wasm guest: limits", () => {
  it("caps the declared maximum memory: growing past it fails inside the module", () => {
    assert.equal(ok(run(compileC("probes.c"), { argv: ["mode", "grow"] })).returnValue, "-1");
  });

  it("reports a Rust allocation bomb as the memory limit", () => {
    assert.deepEqual(run(compileRust("alloc_bomb.rs")), { ok: false, reason: "memory limit exceeded" });
  });

  it("refuses a module whose initial memory is over the limit", () => {
    const r = run(compileC("simple_add.c"), { limits: { ...LIMITS, maxMemoryPages: 1 } });
    assert.equal(r.ok, false);
    assert.match(
      (r as { reason: string }).reason,
      /^Invalid WebAssembly module: initial memory of \d+ pages exceeds the limit of 1 pages/,
    );
  });

  it("fails the task when outputs exceed the output limit", () => {
    const r = run(compileC("probes.c"), {
      argv: ["mode", "flood"],
      outputNames: ["out"],
      limits: { ...LIMITS, maxOutputBytes: 100_000 },
    });
    assert.deepEqual(r, {
      ok: false,
      reason: "output limit exceeded: the task's outputs may hold at most 100000 bytes",
    });
  });
});

describe("wasm guest: escape attempts", () => {
  it("rejects a WASI import at instantiation", () => {
    assert.deepEqual(run(compileC("escape_wasi.c")), {
      ok: false,
      reason:
        'Invalid WebAssembly module: unknown import "wasi_snapshot_preview1"."fd_write" (only env.teaclave_* functions are provided)',
    });
  });

  it("rejects an unknown env function at instantiation", () => {
    assert.deepEqual(run(compileC("escape_env.c")), {
      ok: false,
      reason:
        'Invalid WebAssembly module: unknown import "env"."system" (only env.teaclave_* functions are provided)',
    });
  });

  it("cannot open host files or other tasks' data: only its own data names resolve", () => {
    const probes = compileC("probes.c");
    for (const path of ["/etc/passwd", "../other-task/input", "other_task_input"]) {
      const r = ok(
        run(probes, {
          argv: ["mode", "host-file", "path", path],
          inputs: new Map([["mine", Buffer.from("x")]]),
        }),
      );
      assert.equal(r.returnValue, "-1", path);
    }
  });

  it("cannot make the host read or write outside linear memory", () => {
    const r = ok(run(compileC("probes.c"), { argv: ["mode", "bad-pointer"], outputNames: ["out"] }));
    assert.equal(r.returnValue, "Exception: out of bounds memory access");
    assert.equal(r.outputs.get("out")?.length, 0);
  });
});
