import { createHash } from "node:crypto";
import { existsSync, realpathSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { argvOf, DEFAULT_LIMITS, type ExecutionRequest, type Executor, TaskFailure } from "@cloister/runtime";
import {
  decodeFrames,
  type RecyclingPoolStats,
  RecyclingSandboxPool,
  type SandboxError,
  type SandboxLimits,
  type SandboxResult,
} from "@cloister/sandbox";
import {
  CANCELED_REASON,
  MEMORY_REASON,
  MESAPY_ERROR_BUFFER_TOO_SHORT,
  MESAPY_EXEC_ERROR,
  PYTHON_EXEC_ERROR,
  REPLY_TOO_LARGE_REASON,
  TIMEOUT_REASON,
  UNAVAILABLE_REASON,
} from "./reasons.js";

export interface PythonExecutorOptions {
  /** Sandboxed zygotes alive at once, i.e. tasks running at once (default 2). */
  poolSize?: number;
  /** Warm zygotes not yet bound to a function (default 1). */
  spare?: number;
  /** Tasks one zygote serves before it is replaced (default 1000). */
  maxJobsPerWorker?: number;
  /** Sandbox limits; memoryBytes (the task's memory) defaults to DEFAULT_LIMITS.memoryBytes. */
  limits?: Partial<SandboxLimits>;
  /** Modules every zygote imports once, before forking (default: numpy). */
  preload?: string[];
  /** CPython binary (default /usr/bin/python3, Debian's, with python3-numpy beside it). */
  pythonPath?: string;
  /** Deadline for a zygote to start (default 30 s). */
  startTimeoutMs?: number;
}

const ZYGOTE_DIR = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "zygote");
export const DEFAULT_PYTHON = "/usr/bin/python3";
/**
 * What the sandbox binds read-only besides the interpreter (bound by @cloister/sandbox with the
 * libraries `ldd` lists): its standard library, Debian's Python packages (numpy, scipy, pandas),
 * the shared-library directory their extensions link against (the BLAS is an alternatives
 * symlink, found through ld.so.cache), and time-zone data for pandas. No shell or other program,
 * no other /etc file, no home, repository or data directory.
 */
function systemPaths(python: string): string[] {
  const real = realpathSync(python);
  const version = /python(3\.\d+)$/.exec(real)?.[1];
  const paths = [
    ...(version ? [`/usr/lib/python${version}`] : []),
    "/usr/lib/python3/dist-packages",
    "/etc/ld.so.cache",
    "/etc/alternatives",
    "/usr/share/zoneinfo",
  ];
  // The multiarch library directory, under both names Debian's linker cache uses.
  for (const dir of ["/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu"]) {
    if (!existsSync(dir)) continue;
    paths.push(dir);
    const short = dir.replace(/^\/usr/, "");
    if (existsSync(short) && realpathSync(short) === realpathSync(dir)) paths.push(short);
  }
  return paths.filter((p) => existsSync(p));
}
/** Address space of the zygote itself (CPython with numpy and OpenBLAS), under RLIMIT_AS. */
const ZYGOTE_RESERVE_BYTES = 1024 * 1024 * 1024;
/** The sandbox is killed only if the task's own CPU limit and the zygote did not end it first. */
const KILL_GRACE_MS = 1000;
const MAX_LOG_LINES = 10_000;
const SIGXCPU = 24;
const SIGXFSZ = 25;
/** Largest result (return value and outputs) a task may hand back, in bytes. */
const MAX_CHILD_RESULT_BYTES = 128 * 1024 * 1024;

/** What the zygote reports about the child that ran a task. */
interface ZygoteStatus {
  exit?: number;
  signal?: number;
  dirty?: string[];
}

/** What the child itself reports (untrusted: it ran the payload). */
interface ChildReply {
  value?: unknown;
  error?: unknown;
  memory?: unknown;
  tooLong?: unknown;
  outputs?: unknown;
}

/**
 * Runs Teaclave Python payloads with Debian's CPython 3 (numpy, and scipy/pandas when installed)
 * inside bubblewrap: a zygote per function imports numpy once and forks a fresh child per task,
 * which is discarded after the task (docs/isolation.md). Accepts (python, mesapy) — MesaPy
 * payloads, with the Python 2 shim and `_numpypy` — and (python, python) — plain Python 3.
 */
export class PythonExecutor implements Executor {
  readonly accepts = [
    ["python", "mesapy"],
    ["python", "python"],
  ] as const;
  private readonly pool: RecyclingSandboxPool | null;
  private readonly unavailable: Error | null = null;
  private readonly memoryBytes: number;

  constructor(options: PythonExecutorOptions = {}) {
    this.memoryBytes = options.limits?.memoryBytes ?? DEFAULT_LIMITS.memoryBytes;
    const python = options.pythonPath ?? DEFAULT_PYTHON;
    let pool: RecyclingSandboxPool | null = null;
    try {
      pool = new RecyclingSandboxPool({
        program: { path: python, args: ["-E", "-s", "-S", "-B", join(ZYGOTE_DIR, "zygote.py")] },
        maxWorkers: options.poolSize ?? 2,
        spare: options.spare ?? 1,
        ...(options.maxJobsPerWorker ? { maxJobsPerWorker: options.maxJobsPerWorker } : {}),
        limits: {
          ...options.limits,
          memoryBytes: this.memoryBytes,
          runtimeReserveBytes: ZYGOTE_RESERVE_BYTES,
        },
        readOnlyPaths: [ZYGOTE_DIR, ...systemPaths(python)],
        workerOptions: { preload: options.preload ?? ["numpy"] },
        startTimeoutMs: options.startTimeoutMs ?? 30_000,
      });
    } catch (e) {
      // e.g. no /usr/bin/python3: tasks then fail with a clear reason instead of the node failing.
      this.unavailable = e instanceof Error ? e : new Error(String(e));
    }
    this.pool = pool;
  }

  /** Starts the spare zygote (numpy imported). Throws SandboxUnavailableError. */
  async start(): Promise<void> {
    if (!this.pool) throw this.unavailable;
    await this.pool.start();
  }

  stats(): RecyclingPoolStats | undefined {
    return this.pool?.stats();
  }

  async execute(request: ExecutionRequest): Promise<string> {
    const pair = `${request.executorType}/${request.executor}`;
    if (pair !== "python/mesapy" && pair !== "python/python") {
      throw new TaskFailure(`function not available: (${request.executorType}, ${request.executor})`);
    }
    if (!this.pool) throw new TaskFailure(UNAVAILABLE_REASON, { cause: this.unavailable });
    request.signal.throwIfAborted();
    const mesapy = request.executor === "mesapy";
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
    const data = {
      dialect: mesapy ? "mesapy" : "python",
      argv: argvOf(request),
      inputs: inputNames,
      outputs: outputNames,
      limits: {
        memoryBytes: Math.min(request.limits.memoryBytes, this.memoryBytes),
        cpuSeconds: Math.ceil(request.limits.timeoutMs / 1000),
        resultBytes: MAX_CHILD_RESULT_BYTES,
      },
    };
    const key = request.functionId
      ? `function:${request.functionId}`
      : `payload:${createHash("sha256").update(request.payload).digest("hex")}`;

    let result: SandboxResult;
    try {
      result = await this.pool.run(
        key,
        { data, blobs },
        {
          signal: request.signal,
          timeoutMs: request.limits.timeoutMs + KILL_GRACE_MS,
          // The zygote's own status is small; the task's result (a blob) is bounded by its
          // RLIMIT_FSIZE in the child and again here, before it is read.
          replyLimits: { maxHeaderBytes: 64 * 1024, maxBlobBytes: MAX_CHILD_RESULT_BYTES },
          // The task's process is gone either way; the zygote goes too when the task crashed or
          // left anything behind outside its process.
          keep: (r) => {
            const s = r.data as ZygoteStatus | null;
            return s?.exit === 0 && s.signal === undefined && !s.dirty;
          },
        },
      );
    } catch (e) {
      const kind = (e as Partial<SandboxError>)?.kind;
      if (kind === "aborted") throw new TaskFailure(CANCELED_REASON, { cause: e });
      if (kind === "timeout") throw new TaskFailure(TIMEOUT_REASON, { cause: e });
      if (kind === "oversized")
        throw new TaskFailure(`${REPLY_TOO_LARGE_REASON}: ${(e as Error).message}`, { cause: e });
      throw new TaskFailure(UNAVAILABLE_REASON, { cause: e });
    }
    for (const line of `${result.stdout}${result.stderr}`.split("\n").slice(0, MAX_LOG_LINES))
      if (line) runtime.log(line);

    const fail = (reason: string): never => {
      throw new TaskFailure(reason, mesapy ? { legacyReturnValue: MESAPY_EXEC_ERROR } : {});
    };
    const status = (result.data ?? {}) as ZygoteStatus;
    if (status.signal === SIGXCPU) throw new TaskFailure(TIMEOUT_REASON);
    if (status.signal === SIGXFSZ)
      fail(`output limit exceeded: the task's outputs may hold at most ${MAX_CHILD_RESULT_BYTES} bytes`);
    if (status.signal !== undefined) fail(`execution crashed (signal ${Number(status.signal)})`);
    const child = parseChild(result.blobs.get("child"));
    if (!child) fail(`execution crashed (the function ended its process, exit ${Number(status.exit)})`);
    const { reply, blobs: outBlobs } = child!;

    const declared = new Set(outputNames);
    const written = Array.isArray(reply.outputs) ? reply.outputs : [];
    for (const [k, name] of written.entries()) {
      const bytes = outBlobs.get(`o${k}`);
      // The reply comes from the payload's process: only declared outputs are accepted.
      if (typeof name !== "string" || !declared.has(name) || !bytes) continue;
      await runtime.writeOutput(name, bytes);
    }
    if (reply.memory) fail(MEMORY_REASON);
    if (reply.tooLong) {
      throw new TaskFailure(
        `${mesapy ? MESAPY_ERROR_BUFFER_TOO_SHORT : PYTHON_EXEC_ERROR}: the result is longer than 20480 bytes`,
        mesapy ? { legacyReturnValue: MESAPY_ERROR_BUFFER_TOO_SHORT } : {},
      );
    }
    if (typeof reply.error === "string") {
      fail(`${mesapy ? MESAPY_EXEC_ERROR : PYTHON_EXEC_ERROR}: ${reply.error.slice(0, 1100)}`);
    }
    if (typeof reply.value !== "string") fail("execution failed: the function returned no result");
    if (Buffer.byteLength(reply.value as string) > request.limits.maxReturnBytes)
      throw new TaskFailure("return value limit exceeded");
    return reply.value as string;
  }

  async close(): Promise<void> {
    await this.pool?.close();
  }
}

function parseChild(bytes: Buffer | undefined): { reply: ChildReply; blobs: Map<string, Buffer> } | null {
  if (!bytes || bytes.length < 8 || bytes.readUInt32BE(0) + 4 !== bytes.length) return null;
  try {
    const frames = decodeFrames(bytes, bytes.length);
    const frame = frames.length === 1 ? frames[0] : undefined;
    if (frame?.header.t !== "result") return null;
    const reply = frame.header.data;
    if (typeof reply !== "object" || reply === null) return null;
    return { reply: reply as ChildReply, blobs: frame.blobs };
  } catch {
    return null;
  }
}
