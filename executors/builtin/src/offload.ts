import { Worker } from "node:worker_threads";
import { type ExecutionLimits, TaskFailure } from "@cloister/runtime";
import type { KernelInput, KernelName, KernelOutput } from "./kernels/index.js";

export const CANCELED = "Task canceled";
export const TIMED_OUT = "Task timed out";
export const OUT_OF_MEMORY = "Runtime Error: out of memory";
export const RUNTIME_ERROR = "Runtime Error";

/** Runs one CPU-heavy kernel away from the caller's event loop. */
export type Offload = <K extends KernelName>(kernel: K, input: KernelInput<K>) => Promise<KernelOutput<K>>;

/** What a worker posts back: the kernel's value, or the failure text to end the task with. */
export type WorkerReply = { ok: true; value: unknown } | { ok: false; failure: string };

const WORKER_URL = new URL("./worker.js", import.meta.url);

/**
 * One fresh worker per kernel call: a builtin task runs at most a few kernels, the ~30 ms start is
 * small next to the work, and a fresh worker gets this task's own heap limit and is simply
 * terminated on cancel or timeout, leaving nothing behind to clean up.
 */
export function workerOffload(limits: ExecutionLimits, signal: AbortSignal, deadline: number): Offload {
  return <K extends KernelName>(kernel: K, input: KernelInput<K>) =>
    new Promise<KernelOutput<K>>((resolve, reject) => {
      if (signal.aborted) return reject(new TaskFailure(CANCELED));
      const remaining = deadline - Date.now();
      if (remaining <= 0) return reject(new TaskFailure(TIMED_OUT));
      const heapMb = Math.max(32, Math.floor(limits.memoryBytes / (1024 * 1024)));
      const worker = new Worker(WORKER_URL, {
        workerData: { kernel, input },
        resourceLimits: { maxOldGenerationSizeMb: heapMb },
        stdout: true,
        stderr: true,
      });
      let settled = false;
      const finish = (fn: () => void) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        signal.removeEventListener("abort", onAbort);
        fn();
      };
      const stop = (reason: string) =>
        finish(() => {
          void worker.terminate();
          reject(new TaskFailure(reason));
        });
      const onAbort = () => stop(CANCELED);
      const timer = setTimeout(() => stop(TIMED_OUT), remaining);
      signal.addEventListener("abort", onAbort, { once: true });
      worker.once("message", (reply: WorkerReply) =>
        finish(() => {
          void worker.terminate();
          if (reply.ok) resolve(reply.value as KernelOutput<K>);
          else reject(new TaskFailure(reply.failure));
        }),
      );
      worker.once("error", (err: Error & { code?: string }) =>
        finish(() =>
          reject(new TaskFailure(err.code === "ERR_WORKER_OUT_OF_MEMORY" ? OUT_OF_MEMORY : RUNTIME_ERROR)),
        ),
      );
      worker.once("exit", () => finish(() => reject(new TaskFailure(RUNTIME_ERROR))));
    });
}
