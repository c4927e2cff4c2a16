// A pool of warm, single-use sandboxes. Each sandbox pays the runtime's start-up cost (e.g.
// loading an interpreter) when it is filled in, serves exactly one job, and is then killed and
// replaced — never reused, so nothing one task leaves in memory, in /tmp or in the runtime's
// state can reach another task.
import { existsSync, realpathSync } from "node:fs";
import { dirname, isAbsolute, join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  BWRAP_PATH,
  buildCommand,
  type Command,
  checkBinaries,
  nearestPackageJson,
  poolNameOf,
  runtimeReserveFor,
  spawnCommand,
} from "./command.js";
import {
  SandboxAbortedError,
  SandboxClosedError,
  type SandboxError,
  SandboxStartError,
  SandboxUnavailableError,
} from "./errors.js";
import { SandboxProcess } from "./process.js";
import {
  DEFAULT_SANDBOX_LIMITS,
  type ReplyLimits,
  type SandboxJob,
  type SandboxLimits,
  type SandboxResult,
} from "./types.js";
import { allocateSandboxUid, releaseSandboxUid } from "./uid-range.js";
import { encodeFrame } from "./worker/frame.js";

export interface SandboxPoolOptions {
  /** Absolute path of the worker module (an ES module exporting `run` and optionally `init`). */
  workerScript: string;
  /** Warm sandboxes kept ready (default 2). */
  size?: number;
  /** Jobs running at once; further `run` calls wait for a sandbox (default: `size`). */
  maxRunning?: number;
  limits?: Partial<SandboxLimits>;
  /** Default wall-clock deadline of a job when `run` gets none (default 60 s). */
  defaultTimeoutMs?: number;
  /** Deadline for a sandbox to start and finish the worker's init (default 30 s). */
  startTimeoutMs?: number;
  /**
   * Extra host paths (files or directories) the worker needs, bound read-only at the same path.
   * The worker script's directory and nearest package.json are always bound. Never list data
   * directories, the repository root, /etc or /home.
   */
  readOnlyPaths?: string[];
  /** JSON-serialisable value passed to the worker module's `init`. */
  workerOptions?: unknown;
  /** Binary data passed to every sandbox's `init` (e.g. a runtime memory snapshot). */
  initBlobs?: ReadonlyMap<string, Uint8Array>;
  /** Extra flags for node inside the sandbox. */
  nodeArgs?: string[];
  /** Node binary used inside the sandbox (default: the host's `process.execPath`). */
  nodePath?: string;
  /** bubblewrap binary (default /usr/bin/bwrap, Debian package `bubblewrap`). */
  bwrapPath?: string;
  /**
   * Give every sandbox its own host uid (default: true when the host runs as root). Makes
   * RLIMIT_NPROC per sandbox and keeps an escaped process away from root's files.
   */
  perSandboxUid?: boolean;
}

export interface RunOptions {
  signal?: AbortSignal;
  /** Wall-clock deadline from the moment the job reaches its sandbox. */
  timeoutMs?: number;
  /** Size limits of this job's reply, enforced before it is read. */
  replyLimits?: ReplyLimits;
  /** Log lines the job sends while it runs (`WorkerJob.log`), as they arrive. */
  onLog?: (line: string) => void;
}

export interface SandboxPoolStats {
  warm: number;
  starting: number;
  running: number;
  waiting: number;
  started: number;
  startFailures: number;
}

const ENTRY = join(dirname(fileURLToPath(import.meta.url)), "worker", "entry.js");

const probes = new Map<string, Promise<void>>();

/**
 * Starts one throw-away sandbox with the real flags to prove bwrap works here (binary present,
 * user/PID/network namespaces allowed). Cached per configuration.
 */
export function checkSandbox(
  options: { nodePath?: string; bwrapPath?: string; perSandboxUid?: boolean } = {},
): Promise<void> {
  const nodePath = options.nodePath ?? process.execPath;
  const bwrapPath = options.bwrapPath ?? BWRAP_PATH;
  const perUid = options.perSandboxUid ?? process.getuid?.() === 0;
  const key = `${nodePath}|${bwrapPath}|${perUid}`;
  let probe = probes.get(key);
  if (!probe) {
    probe = runProbe(nodePath, bwrapPath, perUid);
    probes.set(key, probe);
    probe.catch(() => probes.delete(key));
  }
  return probe;
}

async function runProbe(nodePath: string, bwrapPath: string, perUid: boolean): Promise<void> {
  checkBinaries(nodePath, bwrapPath);
  const uid = perUid ? allocateSandboxUid() : undefined;
  try {
    const cmd = buildCommand({
      nodePath,
      bwrapPath,
      readOnlyPaths: [],
      limits: DEFAULT_SANDBOX_LIMITS,
      uid,
      nodeArgs: ["-e", "process.exit(require('node:os').hostname() === 'sandbox' ? 0 : 3)"],
      entry: "",
    });
    cmd.args.pop(); // the empty entry
    const { code, stderr } = await runOnce(cmd);
    if (code !== 0) {
      throw new SandboxUnavailableError(
        `bubblewrap cannot start a sandbox here (exit ${code}); user namespaces may be disabled: ${stderr.trim().slice(0, 500)}`,
      );
    }
  } finally {
    if (uid !== undefined) releaseSandboxUid(uid);
  }
}

function runOnce(cmd: Command): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawnCommand(cmd, { stdout: false });
    let stderr = "";
    child.stderr?.on("data", (b: Buffer) => {
      if (stderr.length < 4000) stderr += b.toString("utf8");
    });
    child.on("error", (e) => reject(new SandboxUnavailableError("cannot spawn bubblewrap", { cause: e })));
    child.on("close", (code) => resolve({ code, stderr }));
  });
}

interface Waiter {
  resolve(p: SandboxProcess): void;
  reject(e: SandboxError): void;
}

export class SandboxPool {
  readonly size: number;
  readonly maxRunning: number;
  readonly limits: SandboxLimits;
  private readonly workerScript: string;
  private readonly readOnlyPaths: string[];
  private readonly nodePath: string;
  private readonly bwrapPath: string;
  private readonly perSandboxUid: boolean;
  private readonly defaultTimeoutMs: number;
  private readonly startTimeoutMs: number;
  private readonly warm: SandboxProcess[] = [];
  private readonly starting = new Set<SandboxProcess>();
  private readonly live = new Set<SandboxProcess>();
  private readonly waiters: Waiter[] = [];
  private running = 0;
  private started = 0;
  private startFailures = 0;
  private consecutiveFailures = 0;
  private refillTimer: NodeJS.Timeout | null = null;
  private startPromise: Promise<void> | null = null;
  private closed = false;

  constructor(private readonly options: SandboxPoolOptions) {
    if (!isAbsolute(options.workerScript) || !existsSync(options.workerScript)) {
      throw new TypeError(
        `workerScript must be an absolute path to an existing file: ${options.workerScript}`,
      );
    }
    this.size = options.size ?? 2;
    this.maxRunning = options.maxRunning ?? this.size;
    if (!Number.isInteger(this.size) || this.size < 1)
      throw new RangeError("size must be a positive integer");
    if (!Number.isInteger(this.maxRunning) || this.maxRunning < 1) {
      throw new RangeError("maxRunning must be a positive integer");
    }
    this.defaultTimeoutMs = options.defaultTimeoutMs ?? 60_000;
    this.startTimeoutMs = options.startTimeoutMs ?? 30_000;
    this.nodePath = options.nodePath ?? process.execPath;
    this.bwrapPath = options.bwrapPath ?? BWRAP_PATH;
    this.perSandboxUid = options.perSandboxUid ?? process.getuid?.() === 0;
    checkBinaries(this.nodePath, this.bwrapPath);
    const limits = { ...DEFAULT_SANDBOX_LIMITS, ...options.limits };
    if (!limits.runtimeReserveBytes) limits.runtimeReserveBytes = runtimeReserveFor(this.nodePath);
    this.limits = limits;
    this.workerScript = realpathSync(options.workerScript);
    const paths = [dirname(ENTRY), dirname(this.workerScript), ...(options.readOnlyPaths ?? [])];
    for (const file of [ENTRY, this.workerScript]) {
      const pkg = nearestPackageJson(file);
      if (pkg) paths.push(pkg);
    }
    for (const p of paths) {
      if (!isAbsolute(p) || !existsSync(p))
        throw new TypeError(`read-only path must exist and be absolute: ${p}`);
    }
    this.readOnlyPaths = paths;
  }

  /**
   * Checks that sandboxes can run here and fills the pool; resolves once `size` sandboxes are
   * warm. Rejects with SandboxUnavailableError when bubblewrap cannot run, or SandboxStartError
   * when the worker cannot initialise. Idempotent; `run` calls it.
   */
  start(): Promise<void> {
    if (!this.startPromise) {
      this.startPromise = (async () => {
        await checkSandbox({
          nodePath: this.nodePath,
          bwrapPath: this.bwrapPath,
          perSandboxUid: this.perSandboxUid,
        });
        if (this.closed) throw new SandboxClosedError();
        const first: Promise<void>[] = [];
        for (let i = this.warm.length + this.starting.size; i < this.size; i++)
          first.push(this.spawnOne().ready);
        await Promise.all(first);
      })();
      // A failed start may be retried by a later start()/run(); until then nothing is refilled.
      this.startPromise.catch(() => {
        this.startPromise = null;
      });
    }
    return this.startPromise;
  }

  /** Runs one job in a fresh warm sandbox, which is destroyed afterwards whatever happened. */
  async run(job: SandboxJob, options: RunOptions = {}): Promise<SandboxResult> {
    const { signal } = options;
    if (this.closed) throw new SandboxClosedError();
    if (signal?.aborted) throw new SandboxAbortedError({ cause: signal.reason });
    await this.start();
    // `dispatch` counted this job in `running` when it handed the sandbox over.
    const sandbox = await this.acquire(signal);
    // Send the job first, then start the replacement: spawning must not delay this call.
    const running = sandbox.run(job, {
      timeoutMs: options.timeoutMs ?? this.defaultTimeoutMs,
      ...(signal ? { signal } : {}),
      ...(options.replyLimits ? { replyLimits: options.replyLimits } : {}),
      ...(options.onLog ? { onLog: options.onLog } : {}),
    });
    this.refill();
    try {
      return await running;
    } catch (e) {
      // close() killed the sandbox under the job: report that, not a crash of the worker.
      if (this.closed && !(e instanceof SandboxAbortedError)) throw new SandboxClosedError();
      throw e;
    } finally {
      sandbox.kill();
      this.running--;
      this.dispatch();
    }
  }

  stats(): SandboxPoolStats {
    return {
      warm: this.warm.length,
      starting: this.starting.size,
      running: this.running,
      waiting: this.waiters.length,
      started: this.started,
      startFailures: this.startFailures,
    };
  }

  /** Kills every sandbox and rejects waiting jobs with SandboxClosedError. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.refillTimer) clearTimeout(this.refillTimer);
    for (const w of this.waiters.splice(0)) w.reject(new SandboxClosedError());
    const all = [...this.live];
    for (const s of all) s.kill();
    await Promise.all(all.map((s) => s.exited));
  }

  private acquire(signal: AbortSignal | undefined): Promise<SandboxProcess> {
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        const i = this.waiters.indexOf(waiter);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(new SandboxAbortedError({ cause: signal?.reason }));
      };
      const waiter: Waiter = {
        resolve: (p) => {
          signal?.removeEventListener("abort", onAbort);
          resolve(p);
        },
        reject: (e) => {
          signal?.removeEventListener("abort", onAbort);
          reject(e);
        },
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.waiters.push(waiter);
      this.dispatch();
    });
  }

  private dispatch(): void {
    while (this.waiters.length && this.warm.length && this.running < this.maxRunning) {
      const sandbox = this.warm.shift()!;
      if (!sandbox.isReady) continue;
      this.running++;
      this.waiters.shift()!.resolve(sandbox);
    }
    // Deferred: a sandbox just handed over sends its job (in a microtask) before any spawn.
    setImmediate(() => this.refill());
  }

  private refill(): void {
    if (this.closed || this.refillTimer || !this.startPromise) return;
    while (this.warm.length + this.starting.size < this.size) {
      if (this.consecutiveFailures > 0) {
        // Back off when the worker keeps failing to start, instead of spinning.
        const delay = Math.min(5_000, 100 * 2 ** Math.min(this.consecutiveFailures, 6));
        this.refillTimer = setTimeout(() => {
          this.refillTimer = null;
          if (!this.startPromise) return;
          this.spawnOneGuarded();
          this.refill();
        }, delay);
        this.refillTimer.unref();
        return;
      }
      this.spawnOneGuarded();
    }
  }

  private spawnOneGuarded(): void {
    if (this.closed || this.warm.length + this.starting.size >= this.size) return;
    try {
      this.spawnOne();
    } catch (e) {
      this.onStartFailure(
        e instanceof SandboxStartError ? e : new SandboxStartError("cannot start sandbox", { cause: e }),
      );
    }
  }

  // Encoded once: the init frame may carry a large blob (a runtime snapshot).
  private encodedInit: Buffer | null = null;
  private initFrame(): Buffer {
    this.encodedInit ??= encodeFrame(
      { t: "init", script: this.workerScript, options: this.options.workerOptions ?? null },
      this.options.initBlobs,
    );
    return this.encodedInit;
  }

  private spawnOne(): SandboxProcess {
    const uid = this.perSandboxUid ? allocateSandboxUid() : undefined;
    let sandbox: SandboxProcess;
    try {
      sandbox = new SandboxProcess({
        command: buildCommand({
          nodePath: this.nodePath,
          bwrapPath: this.bwrapPath,
          readOnlyPaths: this.readOnlyPaths,
          limits: this.limits,
          uid,
          nodeArgs: this.options.nodeArgs ?? [],
          entry: ENTRY,
        }),
        initFrame: this.initFrame(),
        startTimeoutMs: this.startTimeoutMs,
        maxMessageBytes: this.limits.maxMessageBytes,
        maxCapturedOutputBytes: this.limits.maxCapturedOutputBytes,
        pool: poolNameOf(this.workerScript),
      });
    } catch (e) {
      if (uid !== undefined) releaseSandboxUid(uid);
      throw e;
    }
    this.started++;
    this.starting.add(sandbox);
    this.live.add(sandbox);
    void sandbox.exited.then(() => {
      this.live.delete(sandbox);
      this.starting.delete(sandbox);
      const i = this.warm.indexOf(sandbox);
      if (i >= 0) this.warm.splice(i, 1);
      if (uid !== undefined) releaseSandboxUid(uid);
      this.refill();
    });
    sandbox.ready.then(
      () => {
        this.starting.delete(sandbox);
        this.consecutiveFailures = 0;
        if (this.closed) sandbox.kill();
        else {
          this.warm.push(sandbox);
          this.dispatch();
        }
      },
      (e: SandboxError) => {
        this.starting.delete(sandbox);
        sandbox.kill();
        this.onStartFailure(e);
      },
    );
    return sandbox;
  }

  private onStartFailure(e: SandboxError): void {
    this.startFailures++;
    this.consecutiveFailures++;
    // A job waiting for a sandbox learns why none is coming rather than hanging.
    this.waiters.shift()?.reject(e);
    this.refill();
  }
}
