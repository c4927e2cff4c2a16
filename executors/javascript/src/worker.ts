// The sandbox worker module of the JavaScript executor (loaded by @cloister/sandbox inside
// bubblewrap, in a recyclable worker serving one function's tasks). Every task gets a fresh
// QuickJS runtime and context. Imports resolve through the package directories the executor
// binds read-only.
import type { SandboxReply, WorkerJob } from "@cloister/sandbox";
import type { QuickJSWASMModule } from "quickjs-emscripten-core";
import { isEngineBroken, type JavascriptGuestLimits, loadQuickJS, runJavascriptGuest } from "./guest.js";

const INPUT_PREFIX = "input:";
let quickjs: QuickJSWASMModule | undefined;

/** Loads QuickJS while the sandbox waits in the pool, so a call does not pay for it. */
export async function init(): Promise<void> {
  quickjs = await loadQuickJS();
}

export async function run(job: WorkerJob): Promise<SandboxReply> {
  quickjs ??= await loadQuickJS();
  const data = job.data as { argv: string[]; outputNames: string[]; limits: JavascriptGuestLimits };
  const inputs = new Map<string, Uint8Array>();
  for (const [key, value] of job.blobs) {
    if (key.startsWith(INPUT_PREFIX)) inputs.set(key.slice(INPUT_PREFIX.length), value);
  }
  const result = runJavascriptGuest(quickjs, {
    source: job.blobs.get("payload") ?? new Uint8Array(),
    argv: data.argv,
    inputs,
    outputNames: data.outputNames,
    limits: data.limits,
    ...(job.log ? { onLog: job.log } : {}),
  });
  if (!result.ok) return { data: { ok: false, reason: result.reason, logs: result.logs ?? [] } };
  const blobs = new Map<string, Uint8Array>();
  for (const [name, value] of result.outputs) blobs.set(`output:${name}`, value);
  return {
    data: { ok: true, returnValue: result.returnValue, logs: result.logs, recycle: isEngineBroken() },
    blobs,
  };
}
