import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { runSandboxedGuest } from "@cloister/executor-wasm";
import { argvOf, type ExecutionRequest, type Executor, TaskFailure } from "@cloister/runtime";
import { type RecyclingPoolStats, RecyclingSandboxPool, type SandboxLimits } from "@cloister/sandbox";
import type { JavascriptGuestLimits } from "./guest.js";

export interface JavascriptExecutorOptions {
  /** Sandboxed workers alive at once, i.e. tasks running at once (default 2). */
  poolSize?: number;
  /** Warm workers not yet bound to a function (default 1). */
  spare?: number;
  /** Tasks one worker serves before it is replaced (default 1000). */
  maxJobsPerWorker?: number;
  /** QuickJS heap limit, in bytes (default 256 MiB); a task's `limits.memoryBytes` can only lower it. */
  memoryBytes?: number;
  /** Total bytes a task may write across its outputs (default 64 MiB). */
  maxOutputBytes?: number;
  /** Bytes of `teaclave.log` lines kept per task (default 1 MiB + 64 KiB). */
  maxLogBytes?: number;
  /** Further sandbox limits (CPU seconds, tmpfs, …). */
  sandboxLimits?: Partial<SandboxLimits>;
}

const DEFAULT_MEMORY_BYTES = 256 * 1024 * 1024;
const DEFAULT_MAX_OUTPUT_BYTES = 64 * 1024 * 1024;
// A little over the 1 MiB a task keeps (TASK_LOG_MAX_BYTES): an over-long log then reaches the
// execution node, which cuts it there with a marker instead of it ending silently here.
const DEFAULT_MAX_LOG_BYTES = 1024 * 1024 + 64 * 1024;
/** Room for the QuickJS wasm module itself next to its heap, inside the sandbox's memory limit. */
const ENGINE_OVERHEAD_BYTES = 64 * 1024 * 1024;
/** The guest stops itself at the deadline; the sandbox is killed only if it does not. */
const KILL_GRACE_MS = 1000;

/** Packages the worker imports at run time; bound read-only into the sandbox. */
const WORKER_PACKAGES = [
  "@cloister/executor-wasm",
  "quickjs-emscripten-core",
  "@jitl/quickjs-ffi-types",
  "@jitl/quickjs-wasmfile-release-sync",
];

/**
 * Runs JavaScript payloads (`executor_type = "javascript"`, `executor = "javascript"`, a Cloister
 * extension) in QuickJS inside recyclable bubblewrap sandboxes: a worker serves one function,
 * every task gets a fresh QuickJS runtime, and a worker whose task failed is replaced.
 */
export class JavascriptExecutor implements Executor {
  readonly accepts = [["javascript", "javascript"]] as const;
  private readonly pool: RecyclingSandboxPool;
  private readonly memoryBytes: number;
  private readonly maxOutputBytes: number;
  private readonly maxLogBytes: number;

  constructor(options: JavascriptExecutorOptions = {}) {
    this.memoryBytes = options.memoryBytes ?? DEFAULT_MEMORY_BYTES;
    this.maxOutputBytes = options.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES;
    this.maxLogBytes = options.maxLogBytes ?? DEFAULT_MAX_LOG_BYTES;
    const workerScript = fileURLToPath(new URL("./worker.js", import.meta.url));
    this.pool = new RecyclingSandboxPool({
      workerScript,
      maxWorkers: options.poolSize ?? 2,
      spare: options.spare ?? 1,
      ...(options.maxJobsPerWorker ? { maxJobsPerWorker: options.maxJobsPerWorker } : {}),
      limits: { ...options.sandboxLimits, memoryBytes: this.memoryBytes + ENGINE_OVERHEAD_BYTES },
      readOnlyPaths: WORKER_PACKAGES.map((name) => packageDir(name, dirname(workerScript))),
      // QuickJS is itself WebAssembly: compiled optimised once when the worker starts, instead
      // of running in V8's baseline tier until it tiers up (4x slower per task, measured).
      nodeArgs: ["--no-liftoff"],
    });
  }

  /** Fills the warm pool; optional, `execute` does it on first use. Throws SandboxUnavailableError. */
  start(): Promise<void> {
    return this.pool.start();
  }

  /** Worker counters (spare, idle, running, recycled, …). */
  stats(): RecyclingPoolStats {
    return this.pool.stats();
  }

  async execute(request: ExecutionRequest): Promise<string> {
    if (!this.accepts.some(([t, e]) => t === request.executorType && e === request.executor)) {
      throw new TaskFailure(`function not available: (${request.executorType}, ${request.executor})`);
    }
    const guestLimits: JavascriptGuestLimits = {
      timeoutMs: request.limits.timeoutMs,
      memoryBytes: Math.min(request.limits.memoryBytes, this.memoryBytes),
      maxOutputBytes: this.maxOutputBytes,
      maxReturnBytes: request.limits.maxReturnBytes,
      maxLogBytes: this.maxLogBytes,
    };
    return runSandboxedGuest({
      pool: this.pool,
      request,
      argv: argvOf(request),
      guestLimits,
      maxOutputBytes: this.maxOutputBytes,
      maxLogBytes: this.maxLogBytes,
      sandboxTimeoutMs: request.limits.timeoutMs + KILL_GRACE_MS,
    });
  }

  async close(): Promise<void> {
    await this.pool.close();
  }
}

/** Where node finds package `name` from `fromDir` (the node_modules entry, symlink or not). */
function packageDir(name: string, fromDir: string): string {
  for (let dir = fromDir; ; dir = dirname(dir)) {
    const candidate = join(dir, "node_modules", name);
    if (existsSync(join(candidate, "package.json"))) return candidate;
    if (dirname(dir) === dir) throw new Error(`package ${name} is not installed`);
  }
}
