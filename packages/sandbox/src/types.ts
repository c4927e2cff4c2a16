/**
 * What the host hands to one sandboxed task: JSON parameters and named binary blobs (the
 * function's code, its inputs). Nothing else crosses into the sandbox — no keys, no URLs, no
 * host paths.
 */
export interface SandboxJob {
  /** Executor-specific JSON-serialisable parameters (e.g. argv). */
  data?: unknown;
  /** Named binary data (payload, task inputs). */
  blobs?: ReadonlyMap<string, Uint8Array>;
}

/** What a worker module's `run` returns for its job. */
export interface SandboxReply {
  /** JSON-serialisable result. */
  data?: unknown;
  /** Named binary results (task outputs). */
  blobs?: ReadonlyMap<string, Uint8Array>;
}

/** A job's outcome as seen by the host. */
export interface SandboxResult {
  data: unknown;
  blobs: Map<string, Buffer>;
  /** What the worker process wrote to stdout/stderr during the job (bounded, untrusted text). */
  stdout: string;
  stderr: string;
}

/**
 * What the host accepts back from one job, checked from the reply frame's length fields before
 * any of it is buffered; more fails the job with SandboxReplyTooLargeError. Unset: only the
 * pool's `maxMessageBytes` applies.
 */
export interface ReplyLimits {
  /** Largest JSON part of the reply (the worker's `data`: return value, logs...), in bytes. */
  maxHeaderBytes?: number;
  /** Largest sum of the reply's blobs (outputs), in bytes. */
  maxBlobBytes?: number;
}

/** The job as the worker module receives it. */
export interface WorkerJob {
  data: unknown;
  blobs: Map<string, Buffer>;
  /**
   * Sends one line of the job's log to the host at once (the host relays it while the job still
   * runs). Present in workers served by this package; a program speaking the frame protocol
   * sends `{ t: "log", line }` frames itself.
   */
  log?(line: string): void;
}

/**
 * The module named by `workerScript`. It runs inside the sandbox, so it may import only node:
 * builtins, its own files and the paths listed in `readOnlyPaths`; use `import type` for Cloister
 * types. `init` runs once when the sandbox is filled into the pool (load the language runtime
 * there); `run` runs exactly one job, after which the sandbox is destroyed.
 */
export interface SandboxWorkerModule {
  /** `blobs` are the pool's `initBlobs` (e.g. a prebuilt runtime snapshot). */
  init?(options: unknown, blobs: Map<string, Buffer>): void | Promise<void>;
  run(job: WorkerJob): SandboxReply | Promise<SandboxReply>;
}

export interface SandboxLimits {
  /**
   * Memory the sandboxed worker may use on top of the runtime's own reservations, in bytes.
   * Enforced as RLIMIT_AS = memoryBytes + runtimeReserveBytes (address space, not RSS).
   */
  memoryBytes: number;
  /**
   * Address space Node/V8 reserve before any user code runs (code range, heap cage, thread
   * stacks). 0 (the default) measures it for the node binary in use: ~750 MiB for Node 20,
   * ~1.3 GiB for Node 24, plus a margin for the runtime's own growth.
   */
  runtimeReserveBytes: number;
  /** RLIMIT_CPU for the sandbox's whole life (runtime init plus one task), in seconds. */
  cpuSeconds: number;
  /**
   * RLIMIT_NPROC (threads count): applied when the host runs as root, because then every sandbox
   * gets its own uid and the count is per sandbox. Node itself needs about a dozen threads.
   */
  maxProcesses: number;
  /** Size of the sandbox's private /tmp (tmpfs, counted in host memory), in bytes. */
  tmpBytes: number;
  /** Largest frame the host accepts from a worker, in bytes. */
  maxMessageBytes: number;
  /** Bytes of stdout and of stderr kept per job; the rest is dropped. */
  maxCapturedOutputBytes: number;
}

export const DEFAULT_SANDBOX_LIMITS: SandboxLimits = {
  memoryBytes: 512 * 1024 * 1024,
  runtimeReserveBytes: 0,
  cpuSeconds: 120,
  maxProcesses: 64,
  tmpBytes: 64 * 1024 * 1024,
  maxMessageBytes: 256 * 1024 * 1024,
  maxCapturedOutputBytes: 64 * 1024,
};
