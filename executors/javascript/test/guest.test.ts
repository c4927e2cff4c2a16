// The in-sandbox part of the JavaScript executor, run directly in this process.
import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import type { QuickJSWASMModule } from "quickjs-emscripten-core";
import {
  type GuestResult,
  type JavascriptGuestRequest,
  loadQuickJS,
  runJavascriptGuest,
} from "../src/guest.js";

const LIMITS = {
  timeoutMs: 500,
  memoryBytes: 8 << 20,
  maxOutputBytes: 1 << 16,
  maxReturnBytes: 1 << 12,
  maxLogBytes: 64,
};
let quickjs: QuickJSWASMModule;

function run(source: string, overrides: Partial<JavascriptGuestRequest> = {}): GuestResult {
  return runJavascriptGuest(quickjs, {
    source: Buffer.from(source),
    argv: [],
    inputs: new Map([["in", Buffer.from("héllo\nworld")]]),
    outputNames: ["out"],
    limits: LIMITS,
    ...overrides,
  });
}
const value = (r: GuestResult): string => {
  assert.equal(r.ok, true, r.ok ? "" : r.reason);
  return (r as { returnValue: string }).returnValue;
};
const reason = (r: GuestResult): string => {
  assert.equal(r.ok, false, "expected a failure");
  return (r as { reason: string }).reason;
};

describe("javascript guest", () => {
  before(async () => {
    quickjs = await loadQuickJS();
  });

  it("calls entrypoint(argv) and returns its string", () => {
    assert.equal(
      value(run("function entrypoint(argv) { return argv.join('|'); }", { argv: ["k", "v"] })),
      "k|v",
    );
    assert.equal(value(run("function entrypoint() {}")), "");
    assert.equal(value(run("async function entrypoint() { await null; return 'later'; }")), "later");
  });

  it("reads inputs and writes outputs through teaclave.open", () => {
    const r = run(`function entrypoint() {
      const f = teaclave.open("in", "rb");
      const head = f.read(1);
      const rest = f.readText();
      f.close();
      const o = teaclave.open("out", "wb");
      o.write(head);
      o.write(rest.toUpperCase());
      o.close();
      teaclave.log("wrote", { bytes: head.length });
      return String(head instanceof Uint8Array);
    }`);
    assert.equal(value(r), "true");
    assert.ok(r.ok);
    assert.equal(Buffer.from(r.outputs.get("out")!).toString(), "hÉLLO\nWORLD");
    assert.deepEqual(r.logs, ['wrote {"bytes":1}']);
  });

  it("enforces file modes and handles", () => {
    assert.equal(
      reason(run("function entrypoint() { teaclave.open('in', 'r'); }")),
      'JS_EXEC_ERROR: TypeError: teaclave.open: unsupported mode "r" (use "rb" or "wb")',
    );
    assert.equal(
      reason(run("function entrypoint() { teaclave.open('in', 'rb').write('x'); }")),
      'JS_EXEC_ERROR: Error: teaclave file "in" is not opened with "wb"',
    );
    assert.equal(
      reason(run("function entrypoint() { const f = teaclave.open('in', 'rb'); f.close(); f.read(); }")),
      'JS_EXEC_ERROR: Error: teaclave file "in" is closed',
    );
    assert.equal(
      reason(run("function entrypoint() { teaclave.open('in', 'wb'); }")),
      'JS_EXEC_ERROR: Error: teaclave.open: no output named "in"',
    );
  });

  it("fails with JS_EXEC_ERROR and the payload's own message", () => {
    assert.equal(
      reason(run("function entrypoint() { throw new RangeError('bad input'); }")),
      "JS_EXEC_ERROR: RangeError: bad input",
    );
    assert.equal(reason(run("function entrypoint() { throw 'plain'; }")), 'JS_EXEC_ERROR: uncaught "plain"');
    assert.equal(
      reason(run("async function entrypoint() { throw new Error('async'); }")),
      "JS_EXEC_ERROR: Error: async",
    );
    assert.equal(reason(run("function entrypoint( {")), "JS_EXEC_ERROR: SyntaxError: invalid property name");
    assert.equal(
      reason(run("function entrypoint() { return new Promise(function () {}); }")),
      "JS_EXEC_ERROR: entrypoint returned a promise that never settles",
    );
    assert.equal(
      reason(run("var entrypoint = 1;")),
      "JS_EXEC_ERROR: the payload does not define function entrypoint(argv)",
    );
    assert.equal(
      reason(run("function entrypoint() { return 42; }")),
      "JS_EXEC_ERROR: entrypoint returned number, expected a string",
    );
    assert.equal(
      reason(run("function entrypoint() { function f() { return f() + 1; } return f(); }")),
      "JS_EXEC_ERROR: InternalError: stack overflow",
    );
    assert.equal(
      reason(run(Buffer.from([0xff, 0xfe]).toString("latin1"), { source: Uint8Array.from([0xff, 0xfe]) })),
      "JS_EXEC_ERROR: the payload is not valid UTF-8",
    );
  });

  it("stops a runaway loop at the deadline, even if the payload catches", () => {
    assert.equal(reason(run("function entrypoint() { for (;;) {} }")), "time limit exceeded");
    assert.equal(
      reason(run("function entrypoint() { try { for (;;) {} } catch (e) { return 'caught'; } }")),
      "time limit exceeded",
    );
  });

  it("reports a memory bomb as the memory limit", () => {
    // A generous deadline so the memory limit, not the clock, ends it even on a loaded machine;
    // megabyte buffers reach 8 MiB in a few iterations (string ropes take far longer).
    const limits = { ...LIMITS, timeoutMs: 30_000 };
    const bomb = "function entrypoint() { const a = []; for (;;) a.push(new Uint8Array(1 << 20)); }";
    assert.equal(reason(run(bomb, { limits })), "memory limit exceeded");
  });

  it("bounds outputs, return values and logs", () => {
    assert.equal(
      reason(
        run(
          "function entrypoint() { const o = teaclave.open('out', 'wb'); for (;;) { try { o.write('x'.repeat(4096)); } catch (e) {} } }",
        ),
      ),
      "output limit exceeded: the task's outputs may hold at most 65536 bytes",
    );
    assert.equal(
      reason(run("function entrypoint() { return 'x'.repeat(5000); }")),
      "return value limit exceeded",
    );
    const r = run("function entrypoint() { for (let i = 0; i < 100; i++) teaclave.log('line ' + i); }");
    assert.ok(r.ok);
    assert.deepEqual(r.logs.slice(0, 2), ["line 0", "line 1"]);
    assert.ok(r.logs.join("").length <= 64);
  });

  it("starts every task from a fresh runtime", () => {
    assert.equal(value(run("globalThis.leak = 'secret'; function entrypoint() { return 'x'; }")), "x");
    assert.equal(value(run("function entrypoint() { return typeof globalThis.leak; }")), "undefined");
  });
});

describe("javascript guest: escape attempts", () => {
  before(async () => {
    quickjs ??= await loadQuickJS();
  });

  it("has no Node or web host objects", () => {
    const probe = `function entrypoint() {
      return [typeof process, typeof require, typeof module, typeof fetch, typeof WebSocket, typeof XMLHttpRequest,
        typeof setTimeout, typeof WebAssembly, typeof std, typeof os, typeof Deno, typeof Bun].join(",");
    }`;
    assert.equal(value(run(probe)), Array(12).fill("undefined").join(","));
  });

  it("cannot reach the host through constructors", () => {
    assert.equal(
      value(
        run(
          "function entrypoint() { return String(this.constructor.constructor('return typeof process')()); }",
        ),
      ),
      "undefined",
    );
    assert.equal(
      value(run("function entrypoint() { return typeof Function('return globalThis')().process; }")),
      "undefined",
    );
  });

  it("cannot require or import modules (fs, child_process, net, std/os)", () => {
    assert.equal(
      reason(run("function entrypoint() { return require('fs'); }")),
      "JS_EXEC_ERROR: ReferenceError: 'require' is not defined",
    );
    assert.equal(
      reason(run("function entrypoint() { return import('child_process'); }")),
      "JS_EXEC_ERROR: ReferenceError: could not load module 'child_process'",
    );
    assert.equal(
      reason(run("async function entrypoint() { await import('net'); }")),
      "JS_EXEC_ERROR: ReferenceError: could not load module 'net'",
    );
    assert.equal(
      reason(run("async function entrypoint() { const os = await import('os'); return os.exec(['sh']); }")),
      "JS_EXEC_ERROR: ReferenceError: could not load module 'os'",
    );
    assert.equal(
      reason(run("import fs from 'fs'; function entrypoint() {}")),
      "JS_EXEC_ERROR: SyntaxError: expecting '('",
    );
  });

  it("cannot open host files or other tasks' data", () => {
    for (const name of ["/etc/passwd", "../other-task/input", "/proc/self/environ"]) {
      assert.equal(
        reason(run(`function entrypoint() { teaclave.open(${JSON.stringify(name)}, "rb"); }`)),
        `JS_EXEC_ERROR: Error: teaclave.open: no input named ${JSON.stringify(name)}`,
      );
    }
  });

  it("cannot see the host primitives behind teaclave or replace teaclave", () => {
    assert.equal(
      value(
        run(
          "function entrypoint() { return typeof host + ',' + Object.getOwnPropertyNames(teaclave).sort().join(); }",
        ),
      ),
      "undefined,log,open",
    );
    assert.equal(
      reason(run("'use strict'; function entrypoint() { teaclave = null; }")),
      "JS_EXEC_ERROR: TypeError: 'teaclave' is read-only",
    );
  });
});
