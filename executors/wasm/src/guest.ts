/**
 * The part of the WebAssembly executor that runs inside the sandbox: instantiate the task's
 * module with the payload ABI, call `entrypoint(argc, argv)`,
 * and hand back its result and the outputs it created. Pure apart from the CPU and memory it
 * uses, so it is tested in-process too; time limits are enforced from outside by killing.
 */
import { prepareModule, WASM_PAGE, WasmModuleError } from "./module.js";
import { OutputLimitExceeded, TaskFiles } from "./task-files.js";

export interface GuestLimits {
  /** Pages the module's linear memory may grow to (its declared maximum is capped to this). */
  maxMemoryPages: number;
  /** Total bytes the function may write across all its outputs. */
  maxOutputBytes: number;
}

export interface WasmGuestRequest {
  payload: Uint8Array;
  argv: string[];
  inputs: ReadonlyMap<string, Uint8Array>;
  outputNames: string[];
  limits: GuestLimits;
}

/**
 * What came out of one run: a return value and outputs, or a failure reason. `trapped` marks a
 * WebAssembly trap, whose legacy result is the exception text as a return value.
 */
export type GuestResult =
  | {
      ok: true;
      returnValue: string;
      outputs: Map<string, Uint8Array>;
      logs: string[];
      trapped?: boolean;
      /** Size the instance's linear memory reached. */
      memoryBytes?: number;
    }
  | { ok: false; reason: string; logs?: string[] };

/** A validated module compiled for one memory cap; immutable, so it may serve many instances. */
export interface CompiledWasm {
  prepared: ReturnType<typeof prepareModule>;
  module: WebAssembly.Module;
}

/** Checks and compiles a payload; a string is the failure reason of a module we refuse. */
export function compileWasm(payload: Uint8Array, maxMemoryPages: number): CompiledWasm | string {
  try {
    const prepared = prepareModule(payload, maxMemoryPages);
    return { prepared, module: new WebAssembly.Module(prepared.bytes as Uint8Array<ArrayBuffer>) };
  } catch (e) {
    if (e instanceof WasmModuleError) return e.message;
    return `Invalid WebAssembly module: ${e instanceof Error ? e.message : String(e)}`;
  }
}

export const MEMORY_LIMIT_EXCEEDED = "memory limit exceeded";

/** WAMR's exception texts for the traps V8 reports differently (legacy return values). */
const TRAP_TEXTS: ReadonlyArray<readonly [RegExp, string]> = [
  [/^unreachable/, "unreachable"],
  [/^memory access out of bounds/, "out of bounds memory access"],
  [/^(divide|remainder) by zero/, "integer divide by zero"],
  [/^divide result unrepresentable/, "integer overflow"],
  [/^float unrepresentable in integer range/, "invalid conversion to integer"],
  [/^table index is out of bounds/, "undefined element"],
  [/^null function or function signature mismatch/, "indirect call type mismatch"],
];

/** Out-of-bounds pointer passed to a host function; unwinds the module like a trap. */
class HostTrap extends Error {}

function trapText(e: unknown): string | null {
  if (e instanceof HostTrap) return `Exception: ${e.message}`;
  if (e instanceof WebAssembly.RuntimeError) {
    const found = TRAP_TEXTS.find(([re]) => re.test(e.message));
    return `Exception: ${found ? found[1] : e.message}`;
  }
  if (e instanceof RangeError && /call stack/i.test(e.message)) return "Exception: native stack overflow";
  return null;
}

/**
 * Runs one task: a fresh instance (fresh linear memory, globals and tables) of the module, so
 * nothing of an earlier task survives in it. `compiled` is the module compiled earlier for the
 * same payload and memory cap (a cache hit); without it the payload is compiled here.
 */
export function runWasmGuest(req: WasmGuestRequest, compiled?: CompiledWasm): GuestResult {
  const built = compiled ?? compileWasm(req.payload, req.limits.maxMemoryPages);
  if (typeof built === "string") return { ok: false, reason: built };
  const { prepared, module } = built;

  const files = new TaskFiles(req.inputs, req.outputNames, req.limits.maxOutputBytes);
  let memory: WebAssembly.Memory | null = null;
  const mem = (): Uint8Array => {
    if (!memory) throw new HostTrap("out of bounds memory access");
    return new Uint8Array(memory.buffer);
  };
  const range = (ptr: number, len: number): Uint8Array => {
    const m = mem();
    const start = ptr >>> 0;
    if (len < 0 || start + len > m.length) throw new HostTrap("out of bounds memory access");
    return m.subarray(start, start + len);
  };
  const cString = (ptr: number): string => {
    const m = mem();
    const start = ptr >>> 0;
    const nul = start < m.length ? m.indexOf(0, start) : -1;
    if (nul < 0) throw new HostTrap("out of bounds memory access");
    return new TextDecoder().decode(m.subarray(start, nul));
  };

  const env = {
    teaclave_open_input: (fid: number) => files.openInput(cString(fid)),
    teaclave_create_output: (fid: number) => files.createOutput(cString(fid)),
    teaclave_read_file: (fd: number, buf: number, size: number) => {
      const dest = range(buf, size);
      const chunk = files.read(fd, size);
      if (chunk === null) return -1;
      dest.set(chunk);
      return chunk.length;
    },
    teaclave_write_file: (fd: number, buf: number, size: number) => files.write(fd, range(buf, size)),
    teaclave_close_file: (fd: number) => files.close(fd),
  };

  let returnValue: string;
  let trapped = false;
  try {
    const instance = new WebAssembly.Instance(module, { env });
    memory = instance.exports.memory as WebAssembly.Memory;
    const argvAddress = placeArgv(memory, req.argv);
    if (argvAddress === null) return { ok: false, reason: MEMORY_LIMIT_EXCEEDED };
    const entrypoint = instance.exports.entrypoint as (argc: number, argv: number) => number;
    returnValue = String(entrypoint(req.argv.length, argvAddress) | 0);
  } catch (e) {
    if (files.limitExceeded || e instanceof OutputLimitExceeded) {
      return { ok: false, reason: (files.limitExceeded ?? (e as Error)).message };
    }
    const text = trapText(e);
    if (text === null) {
      // Not a trap: a failure of the runtime itself (e.g. V8 out of memory). Keep it generic.
      return { ok: false, reason: `WebAssembly execution failed: ${e instanceof Error ? e.name : "error"}` };
    }
    // V8 cannot tell us that a memory.grow failed. A module that declared more memory than we
    // allow and trapped after filling over half of the cap most likely died of our limit (e.g.
    // Rust's allocation-failure abort; a doubling Vec fails with up to half the cap still free).
    if (prepared.capped && memory && memory.buffer.byteLength * 2 > prepared.maxPages * WASM_PAGE) {
      return { ok: false, reason: MEMORY_LIMIT_EXCEEDED };
    }
    returnValue = text;
    trapped = true;
  }
  if (files.limitExceeded) return { ok: false, reason: files.limitExceeded.message };
  return {
    ok: true,
    returnValue,
    outputs: files.outputs(),
    logs: [],
    memoryBytes: memory?.buffer.byteLength ?? 0,
    ...(trapped ? { trapped } : {}),
  };
}

/**
 * Lays the NUL-terminated argv strings and then their 32-bit address array out in fresh pages at
 * the end of linear memory (where WAMR puts its app heap), so nothing the module already owns is
 * overwritten. Returns the array's address, or null when the memory may not grow that far.
 */
function placeArgv(memory: WebAssembly.Memory, argv: string[]): number | null {
  const encoded = argv.map((s) => Buffer.from(`${s}\0`, "utf8"));
  const stringsLength = encoded.reduce((n, b) => n + b.length, 0);
  const arrayOffset = Math.ceil(stringsLength / 4) * 4;
  const total = arrayOffset + 4 * argv.length;
  const base = memory.buffer.byteLength;
  try {
    memory.grow(Math.max(1, Math.ceil(total / WASM_PAGE)));
  } catch {
    return null;
  }
  const bytes = new Uint8Array(memory.buffer);
  const view = new DataView(memory.buffer);
  let at = base;
  encoded.forEach((b, i) => {
    bytes.set(b, at);
    view.setUint32(base + arrayOffset + 4 * i, at, true);
    at += b.length;
  });
  return base + arrayOffset;
}
