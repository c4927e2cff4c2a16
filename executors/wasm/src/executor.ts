import { fileURLToPath } from "node:url";
import { argvOf, type ExecutionRequest, type Executor, TaskFailure } from "@cloister/runtime";
import { type SandboxLimits, SandboxPool } from "@cloister/sandbox";
import type { GuestLimits } from "./guest.js";
import { MAX_WASM32_PAGES, WASM_PAGE } from "./module.js";
import { runSandboxedGuest } from "./sandboxed.js";

export interface WasmExecutorOptions {
  /** Warm sandboxes kept ready (default 2). */
  poolSize?: number;
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
const DEFAULT_MEMORY_BYTES = 512 * 1024 * 1024;

/**
 * Runs Teaclave WebAssembly payloads (`executor_type = "wamr"`, `executor = "wamr"`) in
 * single-use bubblewrap sandboxes with V8's WebAssembly. One task per sandbox.
 */
export class WasmExecutor implements Executor {
  readonly accepts = [["wamr", "wamr"]] as const;
  private readonly pool: SandboxPool;
  private readonly memoryBytes: number;
  private readonly maxOutputBytes: number;

  constructor(options: WasmExecutorOptions = {}) {
    this.memoryBytes = options.memoryBytes ?? DEFAULT_MEMORY_BYTES;
    this.maxOutputBytes = options.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES;
    this.pool = new SandboxPool({
      workerScript: fileURLToPath(new URL("./worker.js", import.meta.url)),
      size: options.poolSize ?? 2,
      limits: { ...options.sandboxLimits, memoryBytes: this.memoryBytes },
    });
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
