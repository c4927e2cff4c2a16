// The sandbox worker module of the WebAssembly executor (loaded by @cloister/sandbox inside
// bubblewrap, in a recyclable worker that serves one function's tasks one after another). It may
// import only node: builtins and files of this directory. Compiled modules are cached by the
// payload digest the host computed; every task gets a fresh instance of one.
import type { SandboxReply, WorkerJob } from "@cloister/sandbox";
import { type CompiledWasm, compileWasm, type GuestLimits, runWasmGuest } from "./guest.js";

const INPUT_PREFIX = "input:";
/** Modules kept per worker (a worker serves one function, so this is a handful of versions). */
const CACHE_ENTRIES = 8;
const cache = new Map<string, CompiledWasm>();
/**
 * A task whose linear memory grew past this asks for the worker to be replaced: memories of
 * finished tasks are freed only by a GC, so this bounds what garbage can hold (see executor.ts).
 */
const RETAINED_MEMORY_BYTES = 16 * 1024 * 1024;

interface WasmJobData {
  argv: string[];
  outputNames: string[];
  limits: GuestLimits;
  /** SHA-256 of the payload, hex (computed by the host). */
  payloadDigest?: string;
}

function compiled(data: WasmJobData, payload: Uint8Array): CompiledWasm | string {
  if (!data.payloadDigest) return compileWasm(payload, data.limits.maxMemoryPages);
  // The memory cap is part of the compiled module (its declared maximum is rewritten).
  const key = `${data.payloadDigest}/${data.limits.maxMemoryPages}`;
  const hit = cache.get(key);
  if (hit) {
    cache.delete(key);
    cache.set(key, hit);
    return hit;
  }
  const built = compileWasm(payload, data.limits.maxMemoryPages);
  if (typeof built === "string") return built;
  cache.set(key, built);
  if (cache.size > CACHE_ENTRIES) cache.delete(cache.keys().next().value!);
  return built;
}

export function run(job: WorkerJob): SandboxReply {
  const data = job.data as WasmJobData;
  const inputs = new Map<string, Uint8Array>();
  for (const [key, value] of job.blobs)
    if (key.startsWith(INPUT_PREFIX)) inputs.set(key.slice(INPUT_PREFIX.length), value);
  const payload = job.blobs.get("payload") ?? new Uint8Array();
  const module = compiled(data, payload);
  if (typeof module === "string") return { data: { ok: false, reason: module } };
  const result = runWasmGuest(
    { payload, argv: data.argv, inputs, outputNames: data.outputNames, limits: data.limits },
    module,
  );
  if (!result.ok) return { data: { ok: false, reason: result.reason } };
  const blobs = new Map<string, Uint8Array>();
  for (const [name, value] of result.outputs) blobs.set(`output:${name}`, value);
  return {
    data: {
      ok: true,
      returnValue: result.returnValue,
      logs: result.logs,
      trapped: result.trapped ?? false,
      recycle: (result.memoryBytes ?? 0) > RETAINED_MEMORY_BYTES,
    },
    blobs,
  };
}
