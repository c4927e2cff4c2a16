import { fileURLToPath } from "node:url";
import { argvOf, type ExecutionRequest, type Executor, TaskFailure } from "@cloister/runtime";
import { type RecyclingPoolStats, RecyclingSandboxPool, type SandboxLimits } from "@cloister/sandbox";
import type { GuestLimits } from "./guest.js";
import { MAX_WASM32_PAGES, WASM_PAGE } from "./module.js";
import { runSandboxedGuest } from "./sandboxed.js";

export interface WasmExecutorOptions {
  /** Sandboxed workers alive at once, i.e. tasks running at once (default 2). */
  poolSize?: number;
  /** Warm workers not yet bound to a function (default 1). */
  spare?: number;
  /** Tasks one worker serves before it is replaced (default 1000). */
  maxJobsPerWorker?: number;
  /**
   * Memory one sandbox may use for the module, in bytes (default 512 MiB). A task's
   * `limits.memoryBytes` can only lower it. Node's own reservation comes on top (see sandbox).
   */
  memoryBytes?: number;
  /** Total bytes a task may write across its outputs (default 64 MiB). */
  maxOutputBytes?: number;
  /** Further sandbox limits (CPU seconds, tmpfs, …). */
  sandboxLimits?: Partial<SandboxLimits>;
}

export const DEFAULT_MAX_OUTPUT_BYTES = 64 * 1024 * 1024;
/**
 * Address space of a worker, in task memories. Without guard regions V8 reserves a memory's whole
 * (capped) maximum when it is created, and frees it only when a GC collects the instance; with
 * room for one reservation only, every task would force a full GC (~6 ms). A task still gets at
 * most one memory's worth (the capped maximum), and a task that grew its memory past 16 MiB has
 * its worker replaced, so garbage memories hold at most 16 x 16 MiB of RSS.
 */
const RESERVATIONS_PER_WORKER = 16;
const DEFAULT_MEMORY_BYTES = 512 * 1024 * 1024;

/**
 * Runs Teaclave WebAssembly payloads (`executor_type = "wamr"`, `executor = "wamr"`) with V8's
 * WebAssembly in recyclable bubblewrap sandboxes: a worker serves one function, compiles its
 * module once (cached by payload digest) and gives every task a fresh instance; it is replaced
 * after a trap, a failure or a limit hit (docs/isolation.md).
 */
export class WasmExecutor implements Executor {
  readonly accepts = [["wamr", "wamr"]] as const;
  private readonly pool: RecyclingSandboxPool;
  private readonly memoryBytes: number;
  private readonly maxOutputBytes: number;

  constructor(options: WasmExecutorOptions = {}) {
    this.memoryBytes = options.memoryBytes ?? DEFAULT_MEMORY_BYTES;
    this.maxOutputBytes = options.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES;
    this.pool = new RecyclingSandboxPool({
      workerScript: fileURLToPath(new URL("./worker.js", import.meta.url)),
      maxWorkers: options.poolSize ?? 2,
      spare: options.spare ?? 1,
      ...(options.maxJobsPerWorker ? { maxJobsPerWorker: options.maxJobsPerWorker } : {}),
      limits: { ...options.sandboxLimits, memoryBytes: this.memoryBytes * RESERVATIONS_PER_WORKER },
    });
  }

  /** Worker counters (spare, idle, running, recycled, …). */
  stats(): RecyclingPoolStats {
    return this.pool.stats();
  }

  /** Fills the warm pool; optional, `execute` does it on first use. Throws SandboxUnavailableError. */
  start(): Promise<void> {
    return this.pool.start();
  }

  async execute(request: ExecutionRequest): Promise<string> {
    if (!this.accepts.some(([t, e]) => t === request.executorType && e === request.executor)) {
      throw new TaskFailure(`function not available: (${request.executorType}, ${request.executor})`);
    }
    const memory = Math.min(request.limits.memoryBytes, this.memoryBytes);
    const guestLimits: GuestLimits = {
      maxMemoryPages: Math.min(MAX_WASM32_PAGES, Math.floor(memory / WASM_PAGE)),
      maxOutputBytes: this.maxOutputBytes,
    };
    return runSandboxedGuest({
      pool: this.pool,
      request,
      argv: argvOf(request),
      guestLimits,
      maxOutputBytes: this.maxOutputBytes,
    });
  }

  async close(): Promise<void> {
    await this.pool.close();
  }
}
