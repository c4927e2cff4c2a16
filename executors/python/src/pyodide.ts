import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { argvOf, DEFAULT_LIMITS, type ExecutionRequest, type Executor, TaskFailure } from "@cloister/runtime";
import {
  SandboxAbortedError,
  SandboxClosedError,
  SandboxCrashedError,
  SandboxJobError,
  type SandboxLimits,
  SandboxPool,
  type SandboxPoolStats,
  SandboxProtocolError,
  SandboxReplyTooLargeError,
  SandboxTimeoutError,
} from "@cloister/sandbox";
import {
  CANCELED_REASON,
  MAX_RESULT_BYTES,
  MESAPY_ERROR_BUFFER_TOO_SHORT,
  MESAPY_EXEC_ERROR,
  REPLY_TOO_LARGE_REASON,
  TIMEOUT_REASON,
  UNAVAILABLE_REASON,
} from "./reasons.js";
import type { PythonJobData, PythonWorkerOptions } from "./worker/python-worker.js";

const DEFAULT_MAX_OUTPUT_BYTES = 64 * 1024 * 1024;

export interface PyodideExecutorOptions {
  /** Warm sandboxes kept ready, each with pyodide loaded (default 2). */
  poolSize?: number;
  /** Tasks running at once (default: poolSize). */
  maxRunning?: number;
  /** Sandbox limits. memoryBytes defaults to the platform's DEFAULT_LIMITS.memoryBytes. */
  limits?: Partial<SandboxLimits>;
  /**
   * Start sandboxes from a pyodide memory snapshot taken once at start() (in a sandbox of its
   * own) instead of booting the interpreter each time: ~7x faster refills. Default true; falls
   * back to a plain boot, with the reason in `snapshotError`, if the snapshot cannot be made.
   */
  snapshot?: boolean;
  /** Deadline for a sandbox to load pyodide (default 60 s). */
  startTimeoutMs?: number;
  /** Total bytes a task may write across its outputs (default 64 MiB), enforced by the host. */
  maxOutputBytes?: number;
}

const WORKER = join(dirname(fileURLToPath(import.meta.url)), "worker", "python-worker.js");
const PYODIDE_FILES = [
  "pyodide.mjs",
  "pyodide.asm.mjs",
  "pyodide.asm.wasm",
  "python_stdlib.zip",
  "pyodide-lock.json",
];

function pyodideDir(): string {
  return dirname(fileURLToPath(import.meta.resolve("pyodide")));
}

/**
 * The largest JSON part of an honest reply: the result (at most MAX_RESULT_BYTES, each byte at
 * worst six when JSON-escaped) and the names of the outputs written, with room for the framing.
 */
function replyHeaderLimit(outputNames: string[]): number {
  const names = outputNames.reduce((n, name) => n + Buffer.byteLength(name, "utf8") + 32, 0);
  return 6 * (MAX_RESULT_BYTES + names) + 4096;
}

/**
 * Runs Teaclave Python payloads (`entrypoint(argv)`) with pyodide inside @cloister/sandbox, one
 * single-use sandbox per task. Accepts (python, mesapy) — MesaPy dialect with the Python 2
 * compatibility shim — and (python, python). Not what the execution service runs: the CPython
 * zygote (`PythonExecutor`) is faster at the same isolation and has numpy; this one is kept for
 * the benchmark comparison (docs/isolation.md). It reports a payload's exception the legacy way
 * only (`MESAPY_EXEC_ERROR` as the result, no reason).
 */
export class PyodideExecutor implements Executor {
  readonly accepts = [
    ["python", "mesapy"],
    ["python", "python"],
  ] as const;
  /** Why the snapshot could not be used, when start() fell back to a plain boot. */
  snapshotError: Error | undefined;
  private readonly closing = new AbortController();
  private pendingPool: SandboxPool | undefined;
  private pool: SandboxPool | null = null;
  private starting: Promise<SandboxPool> | null = null;
  private closed = false;
  private readonly limits: Partial<SandboxLimits>;
  private readonly indexURL = pyodideDir();

  constructor(private readonly options: PyodideExecutorOptions = {}) {
    this.limits = { memoryBytes: DEFAULT_LIMITS.memoryBytes, ...options.limits };
  }

  /** Loads pyodide into the warm pool (and takes the snapshot first). `execute` calls it. */
  async start(): Promise<void> {
    await this.ensurePool();
  }

  async execute(request: ExecutionRequest): Promise<string> {
    const pair = `${request.executorType}/${request.executor}`;
    if (pair !== "python/mesapy" && pair !== "python/python") {
      throw new TaskFailure(`function not available: (${request.executorType}, ${request.executor})`);
    }
    request.signal.throwIfAborted();
    const { runtime } = request;
    const inputNames = runtime.inputNames();
    const outputNames = runtime.outputNames();
    const blobs = new Map<string, Uint8Array>([["payload", request.payload]]);
    await Promise.all(
      inputNames.map(async (name, k) => {
        try {
          blobs.set(`i${k}`, await runtime.readInput(name));
        } catch {
          // Left out: teaclave_open on it raises the legacy open error inside the payload.
        }
      }),
    );
    const data: PythonJobData = {
      dialect: request.executor === "mesapy" ? "mesapy" : "python",
      argv: argvOf(request),
      inputs: inputNames,
      outputs: outputNames,
    };

    let pool: SandboxPool;
    try {
      pool = await this.ensurePool();
    } catch (e) {
      throw new TaskFailure(UNAVAILABLE_REASON, { cause: e });
    }
    let result: Awaited<ReturnType<SandboxPool["run"]>>;
    try {
      result = await pool.run(
        { data, blobs },
        {
          signal: request.signal,
          timeoutMs: request.limits.timeoutMs,
          // The reply comes from inside the sandbox, where a payload that escaped Pyodide can
          // write its own frame: the host bounds it before reading it.
          replyLimits: {
            maxHeaderBytes: replyHeaderLimit(outputNames),
            maxBlobBytes: this.options.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES,
          },
        },
      );
    } catch (e) {
      if (e instanceof SandboxAbortedError) throw new TaskFailure(CANCELED_REASON, { cause: e });
      if (e instanceof SandboxReplyTooLargeError) {
        throw new TaskFailure(`${REPLY_TOO_LARGE_REASON}: ${e.message}`, { cause: e });
      }
      if (e instanceof SandboxTimeoutError) throw new TaskFailure(TIMEOUT_REASON, { cause: e });
      // The payload itself ended the interpreter: it exhausted memory or CPU, exited the
      // process, or broke out into JavaScript and misbehaved. MesaPy reports user errors as a
      // result, not a failure.
      if (
        e instanceof SandboxJobError ||
        e instanceof SandboxCrashedError ||
        e instanceof SandboxProtocolError
      ) {
        return MESAPY_EXEC_ERROR;
      }
      if (e instanceof SandboxClosedError) throw new TaskFailure(UNAVAILABLE_REASON, { cause: e });
      throw new TaskFailure(UNAVAILABLE_REASON, { cause: e });
    }
    const reply = result.data as { value?: unknown; outputs?: unknown };
    if (typeof reply?.value !== "string" || !Array.isArray(reply.outputs)) return MESAPY_EXEC_ERROR;
    // The shim enforces the legacy buffer inside; a forged reply meets the same rule here.
    if (Buffer.byteLength(reply.value, "utf8") > Math.min(MAX_RESULT_BYTES, request.limits.maxReturnBytes)) {
      return MESAPY_ERROR_BUFFER_TOO_SHORT;
    }
    const declared = new Set(outputNames);
    for (const [k, name] of (reply.outputs as unknown[]).entries()) {
      const bytes = result.blobs.get(`o${k}`);
      // The reply comes from inside the sandbox: only declared outputs are accepted.
      if (typeof name !== "string" || !declared.has(name) || !bytes) continue;
      await runtime.writeOutput(name, bytes);
    }
    for (const line of `${result.stdout}${result.stderr}`.split("\n")) if (line) runtime.log(line);
    return reply.value;
  }

  /** Pool counters (warm, starting, running, …), undefined before start(). */
  stats(): SandboxPoolStats | undefined {
    return this.pool?.stats();
  }

  async close(): Promise<void> {
    this.closed = true;
    // Stop a start that is still under way (snapshot or warm fill) instead of waiting for it.
    this.closing.abort();
    await this.pendingPool?.close();
    const pool = this.pool ?? (await this.starting?.catch(() => null));
    await pool?.close();
  }

  private ensurePool(): Promise<SandboxPool> {
    if (this.closed) return Promise.reject(new SandboxClosedError());
    if (this.pool) return Promise.resolve(this.pool);
    if (!this.starting) {
      this.starting = this.createPool().then(
        (pool) => {
          this.pool = pool;
          return pool;
        },
        (e: unknown) => {
          this.starting = null; // a later task may retry
          throw e;
        },
      );
    }
    return this.starting;
  }

  private async createPool(): Promise<SandboxPool> {
    let snapshot: Uint8Array | undefined;
    if (this.options.snapshot ?? true) {
      try {
        snapshot = await this.makeSnapshot();
      } catch (e) {
        this.snapshotError = e instanceof Error ? e : new Error(String(e));
      }
    }
    if (this.closed) throw new SandboxClosedError();
    const pool = new SandboxPool({
      ...this.poolOptions({ indexURL: this.indexURL }),
      size: this.options.poolSize ?? 2,
      ...(this.options.maxRunning ? { maxRunning: this.options.maxRunning } : {}),
      ...(snapshot ? { initBlobs: new Map([["snapshot", snapshot]]) } : {}),
    });
    this.pendingPool = pool;
    try {
      await pool.start();
    } catch (e) {
      await pool.close();
      throw e;
    } finally {
      this.pendingPool = undefined;
    }
    if (this.closed) {
      await pool.close();
      throw new SandboxClosedError();
    }
    return pool;
  }

  /** Boots pyodide once in a sandbox of its own and returns its memory snapshot. */
  private async makeSnapshot(): Promise<Uint8Array> {
    const maker = new SandboxPool({
      ...this.poolOptions({ indexURL: this.indexURL, makeSnapshot: true }),
      size: 1,
    });
    try {
      const r = await maker.run({}, { timeoutMs: 60_000, signal: this.closing.signal });
      const snapshot = r.blobs.get("snapshot");
      if (!snapshot || snapshot.length === 0) throw new Error("worker returned no snapshot");
      return snapshot;
    } finally {
      await maker.close();
    }
  }

  private poolOptions(workerOptions: PythonWorkerOptions) {
    return {
      workerScript: WORKER,
      limits: this.limits,
      readOnlyPaths: PYODIDE_FILES.map((f) => join(this.indexURL, f)),
      workerOptions,
      startTimeoutMs: this.options.startTimeoutMs ?? 60_000,
    };
  }
}
