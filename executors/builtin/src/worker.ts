// Entry point of a kernel worker: runs the one kernel it was started for and posts the outcome.
import { parentPort, workerData } from "node:worker_threads";
import { KERNELS, type KernelName } from "./kernels/index.js";
import type { WorkerReply } from "./offload.js";

const { kernel, input } = workerData as { kernel: KernelName; input: unknown };
let reply: WorkerReply;
try {
  const run = KERNELS[kernel] as (input: unknown) => unknown;
  reply = { ok: true, value: run(input) };
} catch (e) {
  // Only deliberate failures carry their text out: other errors (e.g. a JSON parser quoting the
  // input) could leak task data into a reason every participant sees.
  const failure = e instanceof Error && e.name === "TaskFailure" ? e.message : "Runtime Error";
  reply = { ok: false, failure };
}
parentPort?.postMessage(reply);
