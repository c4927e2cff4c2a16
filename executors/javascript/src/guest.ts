/**
 * The part of the JavaScript executor that runs inside the sandbox: a fresh QuickJS runtime per
 * task (stack, memory and deadline limits), the `teaclave` file API over the task's in-memory
 * data, and `entrypoint(argv)`. Pure apart from CPU and memory, so it is tested in-process too.
 */
import type { GuestResult } from "@cloister/executor-wasm/guest";
import { TaskFiles } from "@cloister/executor-wasm/task-files";
import RELEASE_SYNC from "@jitl/quickjs-wasmfile-release-sync";
import {
  newQuickJSWASMModuleFromVariant,
  type QuickJSContext,
  type QuickJSHandle,
  type QuickJSSyncVariant,
  type QuickJSWASMModule,
} from "quickjs-emscripten-core";
import { PRELUDE } from "./prelude.js";

export type { GuestResult };

export interface JavascriptGuestLimits {
  /** Wall-clock budget for evaluating the payload and running `entrypoint`, in ms. */
  timeoutMs: number;
  /** QuickJS heap limit, in bytes. */
  memoryBytes: number;
  /** Total bytes the function may write across all its outputs. */
  maxOutputBytes: number;
  /** Largest return value, in UTF-8 bytes. */
  maxReturnBytes: number;
  /** Total bytes of `teaclave.log` lines kept; later lines are dropped. */
  maxLogBytes: number;
}

export interface JavascriptGuestRequest {
  source: Uint8Array;
  argv: string[];
  inputs: ReadonlyMap<string, Uint8Array>;
  outputNames: string[];
  limits: JavascriptGuestLimits;
  /** Sends each kept log line at once (to follow the task live) instead of returning it. */
  onLog?: (line: string) => void;
}

/** Reason prefix for an exception escaping the payload (its own error, so the message is kept). */
export const JS_EXEC_ERROR = "JS_EXEC_ERROR";
export const TIME_LIMIT_EXCEEDED = "time limit exceeded";
export const MEMORY_LIMIT_EXCEEDED = "memory limit exceeded";
export const RETURN_LIMIT_EXCEEDED = "return value limit exceeded";
/** QuickJS's guest stack; without it deep recursion overflows the host stack. */
export const MAX_STACK_BYTES = 256 * 1024;
const MAX_MESSAGE_CHARS = 1024;

/** Loads the QuickJS engine (Bellard, release, sync build); do it once per process. */
export function loadQuickJS(): Promise<QuickJSWASMModule> {
  // The package's CommonJS typings describe the namespace; under ESM the default is the variant.
  return newQuickJSWASMModuleFromVariant(RELEASE_SYNC as unknown as QuickJSSyncVariant);
}

class GuestError extends Error {}

export function runJavascriptGuest(quickjs: QuickJSWASMModule, req: JavascriptGuestRequest): GuestResult {
  const { limits } = req;
  const files = new TaskFiles(req.inputs, req.outputNames, limits.maxOutputBytes);
  const logs: string[] = [];
  let logBytes = 0;
  let timedOut = false;
  // Counts from when the payload starts: setting up the runtime is ours, not the task's time.
  let deadline = Number.POSITIVE_INFINITY;

  const runtime = quickjs.newRuntime();
  runtime.setMaxStackSize(MAX_STACK_BYTES);
  // QuickJS takes the limit as a signed 32-bit size.
  runtime.setMemoryLimit(Math.min(limits.memoryBytes, 0x7fff_ffff));
  runtime.setInterruptHandler(() => {
    if (Date.now() >= deadline) timedOut = true;
    return timedOut;
  });
  const ctx = runtime.newContext();
  // False when QuickJS's state may hold leaked values: freeing the runtime would then abort the
  // whole engine (an assertion in JS_FreeRuntime). Such a runtime is left to the process's end:
  // the task fails, and a failed task's worker process is always discarded.
  let clean = true;
  // Log lines written before a failure are kept: they are how an owner debugs the failure.
  const failed = (reason: string): GuestResult => ({ ok: false, reason, logs });
  try {
    let source: string;
    try {
      source = new TextDecoder("utf-8", { fatal: true }).decode(req.source);
    } catch {
      return failed(`${JS_EXEC_ERROR}: the payload is not valid UTF-8`);
    }
    installTeaclave(ctx, files, (line) => {
      logBytes += Buffer.byteLength(line);
      if (logBytes > limits.maxLogBytes) return;
      if (req.onLog) req.onLog(line);
      else logs.push(line);
    });
    deadline = Date.now() + limits.timeoutMs;

    let value: QuickJSHandle;
    try {
      ctx.unwrapResult(ctx.evalCode(source, "payload.js", { type: "global" })).dispose();
      const fn = ctx.getProp(ctx.global, "entrypoint");
      if (ctx.typeof(fn) !== "function") {
        fn.dispose();
        throw new GuestError("the payload does not define function entrypoint(argv)");
      }
      const argv = ctx.newArray();
      req.argv.forEach((s, i) => {
        const h = ctx.newString(s);
        ctx.setProp(argv, i, h);
        h.dispose();
      });
      const called = ctx.callFunction(fn, ctx.undefined, argv);
      fn.dispose();
      argv.dispose();
      value = settle(ctx, ctx.unwrapResult(called), () => {
        clean = false;
      });
    } catch (e) {
      // Our own limits first: the guest may have caught (and hidden) what they threw.
      if (files.limitExceeded) return failed(files.limitExceeded.message);
      if (timedOut) {
        // Interrupted mid-operation: QuickJS may still hold the objects it was working on.
        clean = false;
        return failed(TIME_LIMIT_EXCEEDED);
      }
      const message = describe(e);
      if (/^InternalError: out of memory/.test(message)) {
        // QuickJS may not free everything after running out of memory mid-operation.
        clean = false;
        return failed(MEMORY_LIMIT_EXCEEDED);
      }
      return failed(`${JS_EXEC_ERROR}: ${truncate(message)}`);
    }
    if (files.limitExceeded) return failed(files.limitExceeded.message);
    if (timedOut) return failed(TIME_LIMIT_EXCEEDED);

    const type = ctx.typeof(value);
    if (type !== "undefined" && type !== "string") {
      value.dispose();
      return failed(`${JS_EXEC_ERROR}: entrypoint returned ${type}, expected a string`);
    }
    const returnValue = type === "string" ? ctx.getString(value) : "";
    value.dispose();
    if (Buffer.byteLength(returnValue, "utf8") > limits.maxReturnBytes) return failed(RETURN_LIMIT_EXCEEDED);
    return { ok: true, returnValue, outputs: files.outputs(), logs };
  } finally {
    if (clean) {
      try {
        ctx.dispose();
        runtime.dispose();
      } catch {
        // QuickJS aborted while freeing (a leak it asserts on): the engine is unusable now.
        engineBroken = true;
      }
    }
  }
}

let engineBroken = false;
/** True once freeing a runtime failed: the worker must be replaced, whatever the task's outcome. */
export const isEngineBroken = (): boolean => engineBroken;

/**
 * Waits for an async entrypoint: with no host I/O pending, running the job queue settles it.
 * The promise state is read only after the jobs ran: asking about a still-pending promise leaks a
 * value in quickjs-emscripten 0.32, which then aborts the runtime's disposal.
 */
function settle(ctx: QuickJSContext, value: QuickJSHandle, dirty: () => void): QuickJSHandle {
  if (ctx.typeof(value) !== "object") return value;
  ctx.runtime.executePendingJobs().dispose();
  const state = ctx.getPromiseState(value);
  if (state.type === "fulfilled" && state.notAPromise) return value;
  value.dispose();
  if (state.type === "fulfilled") return state.value;
  if (state.type === "rejected") throw new GuestThrow(state.error.consume(ctx.dump));
  dirty();
  throw new GuestError("entrypoint returned a promise that never settles");
}

/** A value thrown by guest code, already dumped to a host value. */
class GuestThrow extends Error {
  constructor(readonly value: unknown) {
    super("guest exception");
  }
}

function describe(e: unknown): string {
  if (e instanceof GuestError) return e.message;
  let value: unknown = e;
  if (e instanceof GuestThrow) value = e.value;
  else if (e instanceof Error && "context" in e) {
    // quickjs-emscripten's unwrapResult throws a host Error carrying the dumped guest value: for a
    // guest Error its name and message, for anything else (`throw "x"`) the value as `cause`.
    if (e.name === "QuickJSUnwrapError") value = e.cause;
    else return `${e.name}: ${e.message}`;
  }
  if (typeof value === "object" && value !== null && "message" in value) {
    const v = value as { name?: unknown; message?: unknown };
    return `${typeof v.name === "string" ? v.name : "Error"}: ${String(v.message)}`;
  }
  try {
    return `uncaught ${JSON.stringify(value)}`;
  } catch {
    return `uncaught ${String(value)}`;
  }
}

function truncate(s: string): string {
  return s.length > MAX_MESSAGE_CHARS ? `${s.slice(0, MAX_MESSAGE_CHARS)}…` : s;
}

/** Host primitives behind the prelude's `teaclave` object. */
function installTeaclave(ctx: QuickJSContext, files: TaskFiles, log: (line: string) => void): void {
  const host = ctx.newObject();
  const fn = (name: string, impl: (...args: QuickJSHandle[]) => QuickJSHandle | undefined) => {
    const f = ctx.newFunction(name, impl);
    ctx.setProp(host, name, f);
    f.dispose();
  };
  const chunk = (fdH: QuickJSHandle, sizeH: QuickJSHandle): Uint8Array => {
    const fd = ctx.getNumber(fdH);
    const size = ctx.getNumber(sizeH);
    const data = files.read(fd, size < 0 ? Number.MAX_SAFE_INTEGER : size);
    if (data === null) throw new Error("bad file handle");
    return data;
  };
  const written = (n: number): QuickJSHandle => {
    if (n < 0) throw new Error("bad file handle");
    return ctx.newNumber(n);
  };
  fn("open", (nameH, modeH) => {
    const name = ctx.getString(nameH);
    const mode = ctx.getString(modeH);
    const fd = mode === "rb" ? files.openInput(name) : files.createOutput(name);
    if (fd < 0) {
      throw new Error(
        `teaclave.open: no ${mode === "rb" ? "input" : "output"} named ${JSON.stringify(name)}`,
      );
    }
    return ctx.newNumber(fd);
  });
  fn("read", (fdH, sizeH) => ctx.newArrayBuffer(Uint8Array.from(chunk(fdH, sizeH)).buffer));
  fn("readText", (fdH, sizeH) => ctx.newString(new TextDecoder().decode(chunk(fdH, sizeH))));
  fn("write", (fdH, dataH) => {
    const data = ctx.getArrayBuffer(dataH);
    try {
      return written(files.write(ctx.getNumber(fdH), data.value));
    } finally {
      data.dispose();
    }
  });
  fn("writeText", (fdH, textH) =>
    written(files.write(ctx.getNumber(fdH), Buffer.from(ctx.getString(textH)))),
  );
  fn("close", (fdH) => {
    if (files.close(ctx.getNumber(fdH)) < 0) throw new Error("bad file handle");
    return undefined;
  });
  fn("log", (lineH) => {
    log(ctx.getString(lineH));
    return undefined;
  });
  const prelude = ctx.unwrapResult(ctx.evalCode(PRELUDE, "teaclave-prelude.js"));
  ctx.unwrapResult(ctx.callFunction(prelude, ctx.undefined, host)).dispose();
  prelude.dispose();
  host.dispose();
}
