// The sandbox worker module of the WebAssembly executor (loaded by @cloister/sandbox inside
// bubblewrap). It may import only node: builtins and files of this directory.
import type { SandboxReply, WorkerJob } from "@cloister/sandbox";
import { type GuestLimits, runWasmGuest } from "./guest.js";

const INPUT_PREFIX = "input:";

export function run(job: WorkerJob): SandboxReply {
  const data = job.data as { argv: string[]; outputNames: string[]; limits: GuestLimits };
  const inputs = new Map<string, Uint8Array>();
  for (const [key, value] of job.blobs)
    if (key.startsWith(INPUT_PREFIX)) inputs.set(key.slice(INPUT_PREFIX.length), value);
  const payload = job.blobs.get("payload") ?? new Uint8Array();
  const result = runWasmGuest({
    payload,
    argv: data.argv,
    inputs,
    outputNames: data.outputNames,
    limits: data.limits,
  });
  if (!result.ok) return { data: { ok: false, reason: result.reason } };
  const blobs = new Map<string, Uint8Array>();
  for (const [name, value] of result.outputs) blobs.set(`output:${name}`, value);
  return { data: { ok: true, returnValue: result.returnValue, logs: result.logs }, blobs };
}
