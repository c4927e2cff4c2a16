// Recyclable sandboxed workers: long-lived bubblewrap sandboxes that serve many jobs, for
// runtimes whose per-job instance is itself an isolation boundary (a WebAssembly instance, a
// QuickJS runtime, a forked interpreter). Three rules keep one task away from another:
//   - a worker serves one key only (the executor passes the function id: one function, one
//     owner), so code of two owners never shares a process;
//   - the worker is killed after any job that did not end cleanly (error, crash, timeout, cancel,
//     or the caller's `keep` saying no: a trap or limit hit), after `maxJobsPerWorker` jobs, after
//     `maxBusyMs` of work (before RLIMIT_CPU, which counts the process's whole life, could fire
//     inside an innocent task) and after `idleTimeoutMs` without work;
//   - spare workers are started without a key and take one on first use.
import { existsSync, realpathSync } from "node:fs";
import { dirname, isAbsolute, join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  BWRAP_PATH,
  buildCommand,
  type Command,
  checkBinaries,
  NODE_SANDBOX_FLAGS,
  nearestPackageJson,
  poolNameOf,
  runtimeReserveFor,
} from "./command.js";
import { SandboxAbortedError, SandboxClosedError, type SandboxError, SandboxStartError } from "./errors.js";
import { checkSandbox } from "./probe.js";
import { type OutputLineLimits, SandboxProcess } from "./process.js";
import {
  DEFAULT_SANDBOX_LIMITS,
  type ReplyLimits,
  type SandboxJob,
  type SandboxLimits,
  type SandboxResult,
} from "./types.js";
import { allocateSandboxUid, releaseSandboxUid } from "./uid-range.js";
import { encodeFrame, type Frame, FrameDecoder } from "./worker/frame.js";

/** Decodes frames held whole in memory (e.g. a result relayed inside a blob); throws FrameError. */
export function decodeFrames(bytes: Buffer, maxFrameBytes: number): Frame[] {
  return new FrameDecoder(maxFrameBytes).push(bytes);
}

const ENTRY = join(dirname(fileURLToPath(import.meta.url)), "worker", "reusable-entry.js");

/**
 * A program other than node to run inside the sandbox (e.g. a CPython zygote). It speaks the same
 * frame protocol on fd 3: `init` → `ready`, then `job` → `result` | `error`, repeatedly.
 */
export interface SandboxProgram {
  /** Absolute path of the binary (its shared libraries are bound read-only, like node's). */
  path: string;
  /** Its arguments (e.g. the script). */
  args: string[];
}

export interface RecyclingPoolOptions {
  /** Name in `sandboxEvents` (default: the worker's package without `@cloister/executor-`). */
  name?: string;
  /** Worker module for node workers (an ES module exporting `run` and optionally `init`); ignored when `program` is given. */
  workerScript?: string;
  /** Run this program instead of node + reusable-entry.js. */
  program?: SandboxProgram;
  /** Warm workers without a key kept ready (default 1). */
  spare?: number;
  /** Workers with a key alive at once; also the number of jobs running at once (default 2). */
  maxWorkers?: number;
  /** Jobs one worker serves before it is replaced (default 1000). */
  maxJobsPerWorker?: number;
  /** Time a worker may spend on jobs before it is replaced (default: half of `cpuSeconds`). */
  maxBusyMs?: number;
  /** An idle worker with a key is killed after this long (default 60 s). */
  idleTimeoutMs?: number;
  limits?: Partial<SandboxLimits>;
  defaultTimeoutMs?: number;
  startTimeoutMs?: number;
  readOnlyPaths?: string[];
  workerOptions?: unknown;
  initBlobs?: ReadonlyMap<string, Uint8Array>;
  nodeArgs?: string[];
  nodePath?: string;
  bwrapPath?: string;
  perSandboxUid?: boolean;
}

export interface RecyclingRunOptions {
  signal?: AbortSignal;
  timeoutMs?: number;
  /** Decides from a job's result whether its worker may serve another job (default: yes). */
  keep?: (result: SandboxResult) => boolean;
  /** Bounds of this job's reply, judged from its length fields before it is read. */
  replyLimits?: ReplyLimits;
  /** Log lines the job sends while it runs (`WorkerJob.log`), as they arrive. */
  onLog?: (line: string) => void;
  /** Also hand the job's stdout and stderr lines to onLog as they arrive, within these bounds. */
  outputLines?: OutputLineLimits;
}

export interface RecyclingPoolStats {
  spare: number;
  starting: number;
  idle: number;
  running: number;
  waiting: number;
  started: number;
  recycled: number;
  /** Of those, workers killed because a job failed or its result was refused (not age or budget). */
  replaced: number;
  startFailures: number;
}

interface Worker {
  process: SandboxProcess;
  key: string | null;
  jobs: number;
  busyMs: number;
  idleTimer: NodeJS.Timeout | null;
}

interface Waiter {
  key: string;
  resolve(w: Worker): void;
  reject(e: SandboxError): void;
}

export class RecyclingSandboxPool {
  readonly limits: SandboxLimits;
  readonly maxWorkers: number;
  private readonly spareTarget: number;
  private readonly maxJobs: number;
  private readonly maxBusyMs: number;
  private readonly idleTimeoutMs: number;
  private readonly defaultTimeoutMs: number;
  private readonly startTimeoutMs: number;
  private readonly nodePath: string;
  private readonly bwrapPath: string;
  private readonly perSandboxUid: boolean;
  private readonly readOnlyPaths: string[];
  private readonly script: string;
  /** This pool's name in `sandboxEvents`: the option, else the worker's package or program. */
  private readonly poolName: string;
  private readonly spare: Worker[] = [];
  private readonly starting = new Set<Worker>();
  private readonly idle: Worker[] = []; // least recently used first
  private readonly busy = new Set<Worker>();
  private readonly live = new Set<Worker>();
  private readonly waiters: Waiter[] = [];
  private started = 0;
  private recycled = 0;
  private replaced = 0;
  private startFailures = 0;
  private consecutiveFailures = 0;
  private refillTimer: NodeJS.Timeout | null = null;
  private startPromise: Promise<void> | null = null;
  private encodedInit: Buffer | null = null;
  private closed = false;

  constructor(private readonly options: RecyclingPoolOptions) {
    const program = options.program;
    const script = program ? program.path : options.workerScript;
    if (!script || !isAbsolute(script) || !existsSync(script)) {
      throw new TypeError(`the worker script or program must be an absolute path to a file: ${script}`);
    }
    this.spareTarget = options.spare ?? 1;
    this.maxWorkers = options.maxWorkers ?? 2;
    this.maxJobs = options.maxJobsPerWorker ?? 1000;
    this.idleTimeoutMs = options.idleTimeoutMs ?? 60_000;
    this.defaultTimeoutMs = options.defaultTimeoutMs ?? 60_000;
    this.startTimeoutMs = options.startTimeoutMs ?? 30_000;
    for (const [name, v] of [
      ["spare", this.spareTarget],
      ["maxWorkers", this.maxWorkers],
      ["maxJobsPerWorker", this.maxJobs],
    ] as const) {
      if (!Number.isInteger(v) || v < (name === "spare" ? 0 : 1)) throw new RangeError(`bad ${name}: ${v}`);
    }
    this.nodePath = options.nodePath ?? process.execPath;
    this.bwrapPath = options.bwrapPath ?? BWRAP_PATH;
    this.perSandboxUid = options.perSandboxUid ?? process.getuid?.() === 0;
    const binary = program ? program.path : this.nodePath;
    checkBinaries(binary, this.bwrapPath);
    const limits = { ...DEFAULT_SANDBOX_LIMITS, ...options.limits };
    if (!limits.runtimeReserveBytes) {
      if (program) throw new TypeError("limits.runtimeReserveBytes is required with a program");
      limits.runtimeReserveBytes = runtimeReserveFor(this.nodePath);
    }
    this.limits = limits;
    this.maxBusyMs = options.maxBusyMs ?? (limits.cpuSeconds * 1000) / 2;
    const paths = [...(options.readOnlyPaths ?? [])];
    if (program) {
      this.script = realpathSync(program.path);
    } else {
      this.script = realpathSync(script);
      paths.unshift(dirname(ENTRY), dirname(this.script));
      for (const file of [ENTRY, this.script]) {
        const pkg = nearestPackageJson(file);
        if (pkg) paths.push(pkg);
      }
    }
    for (const p of paths) {
      if (!isAbsolute(p) || !existsSync(p))
        throw new TypeError(`read-only path must exist and be absolute: ${p}`);
    }
    this.readOnlyPaths = paths;
    this.poolName = options.name ?? poolNameOf(this.script);
  }

  /** Checks that sandboxes run here and starts the spare workers; resolves when they are warm. */
  start(): Promise<void> {
    if (!this.startPromise) {
      this.startPromise = (async () => {
        const probe = checkSandbox({
          nodePath: this.nodePath,
          bwrapPath: this.bwrapPath,
          perSandboxUid: this.perSandboxUid,
        });
        // The first workers boot while the probe runs (a worker's start is mostly its runtime's:
        // an interpreter, numpy). No job reaches one before the probe passed: run() awaits this
        // promise before it takes a worker, and a failed probe kills them.
        const first: Promise<void>[] = [];
        const spawned: Worker[] = [];
        let spawnError: unknown;
        try {
          for (let i = this.spare.length + this.starting.size; i < Math.max(1, this.spareTarget); i++) {
            const w = this.spawn();
            spawned.push(w);
            first.push(w.process.ready);
          }
        } catch (e) {
          spawnError = e;
        }
        try {
          await probe;
        } catch (e) {
          for (const w of spawned) this.kill(w);
          throw e;
        }
        if (spawnError) throw spawnError;
        if (this.closed) throw new SandboxClosedError();
        await Promise.all(first);
      })();
      this.startPromise.catch(() => {
        this.startPromise = null;
      });
    }
    return this.startPromise;
  }

  /**
   * Runs one job in a worker of `key` (reused if one is idle, else a spare one takes the key).
   * The worker is killed unless the job ended with a result that `keep` accepts.
   */
  async run(key: string, job: SandboxJob, options: RecyclingRunOptions = {}): Promise<SandboxResult> {
    const { signal } = options;
    if (this.closed) throw new SandboxClosedError();
    if (signal?.aborted) throw new SandboxAbortedError({ cause: signal.reason });
    await this.start();
    const worker = await this.acquire(key, signal);
    const t0 = performance.now();
    let keep = false;
    try {
      const result = await worker.process.run(job, {
        timeoutMs: options.timeoutMs ?? this.defaultTimeoutMs,
        ...(signal ? { signal } : {}),
        ...(options.replyLimits ? { replyLimits: options.replyLimits } : {}),
        ...(options.onLog ? { onLog: options.onLog } : {}),
        ...(options.outputLines ? { outputLines: options.outputLines } : {}),
      });
      keep = options.keep ? options.keep(result) : true;
      return result;
    } catch (e) {
      if (this.closed && !(e instanceof SandboxAbortedError)) throw new SandboxClosedError();
      throw e;
    } finally {
      worker.jobs++;
      worker.busyMs += performance.now() - t0;
      this.busy.delete(worker);
      this.release(worker, keep);
      this.dispatch();
    }
  }

  stats(): RecyclingPoolStats {
    return {
      spare: this.spare.length,
      starting: this.starting.size,
      idle: this.idle.length,
      running: this.busy.size,
      waiting: this.waiters.length,
      started: this.started,
      recycled: this.recycled,
      replaced: this.replaced,
      startFailures: this.startFailures,
    };
  }

  /** Kills every worker; waiting jobs reject with SandboxClosedError. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.refillTimer) clearTimeout(this.refillTimer);
    for (const w of this.waiters.splice(0)) w.reject(new SandboxClosedError());
    const all = [...this.live];
    for (const w of all) this.kill(w);
    await Promise.all(all.map((w) => w.process.exited));
  }

  private release(worker: Worker, keep: boolean): void {
    const spent = worker.jobs >= this.maxJobs || worker.busyMs >= this.maxBusyMs;
    if (!keep || spent || this.closed || !worker.process.isReady) {
      this.recycled++;
      if (!keep) this.replaced++;
      this.kill(worker);
      return;
    }
    this.idle.push(worker);
    worker.idleTimer = setTimeout(() => {
      const i = this.idle.indexOf(worker);
      if (i >= 0) this.idle.splice(i, 1);
      this.kill(worker);
    }, this.idleTimeoutMs);
    worker.idleTimer.unref();
  }

  private kill(worker: Worker): void {
    if (worker.idleTimer) clearTimeout(worker.idleTimer);
    worker.idleTimer = null;
    worker.process.kill();
  }

  private acquire(key: string, signal: AbortSignal | undefined): Promise<Worker> {
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        const i = this.waiters.indexOf(waiter);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(new SandboxAbortedError({ cause: signal?.reason }));
      };
      const waiter: Waiter = {
        key,
        resolve: (w) => {
          signal?.removeEventListener("abort", onAbort);
          resolve(w);
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

  private keyed(): number {
    return this.idle.length + this.busy.size;
  }

  private dispatch(): void {
    for (let i = 0; i < this.waiters.length && this.busy.size < this.maxWorkers; ) {
      const waiter = this.waiters[i]!;
      let at = this.idle.findIndex((w) => w.key === waiter.key && w.process.isReady);
      let worker: Worker | undefined;
      if (at >= 0) worker = this.idle.splice(at, 1)[0];
      else {
        if (this.keyed() >= this.maxWorkers) {
          // Room for a worker of this key only by retiring the least recently used idle one.
          at = this.idle.findIndex((w) => w.key !== waiter.key);
          if (at < 0) {
            i++;
            continue;
          }
          this.kill(this.idle.splice(at, 1)[0]!);
        }
        while (this.spare.length && !this.spare[0]!.process.isReady) this.spare.shift();
        worker = this.spare.shift();
        if (!worker) {
          i++;
          continue;
        }
        worker.key = waiter.key;
      }
      if (!worker) {
        i++;
        continue;
      }
      if (worker.idleTimer) clearTimeout(worker.idleTimer);
      worker.idleTimer = null;
      this.waiters.splice(i, 1);
      this.busy.add(worker);
      waiter.resolve(worker);
    }
    setImmediate(() => this.refill());
  }

  private refill(): void {
    if (this.closed || this.refillTimer || !this.startPromise) return;
    // Spares for jobs waiting for one, plus the standing spare count.
    const wanted =
      this.spareTarget + Math.max(0, Math.min(this.waiters.length, this.maxWorkers - this.busy.size));
    while (this.spare.length + this.starting.size < wanted) {
      if (this.consecutiveFailures > 0) {
        const delay = Math.min(5_000, 100 * 2 ** Math.min(this.consecutiveFailures, 6));
        this.refillTimer = setTimeout(() => {
          this.refillTimer = null;
          if (!this.startPromise) return;
          this.spawnGuarded();
          this.refill();
        }, delay);
        this.refillTimer.unref();
        return;
      }
      if (!this.spawnGuarded()) return;
    }
  }

  private spawnGuarded(): boolean {
    if (this.closed) return false;
    try {
      this.spawn();
      return true;
    } catch (e) {
      this.onStartFailure(
        e instanceof SandboxStartError ? e : new SandboxStartError("cannot start sandbox", { cause: e }),
      );
      return false;
    }
  }

  private initFrame(): Buffer {
    this.encodedInit ??= encodeFrame(
      { t: "init", script: this.script, options: this.options.workerOptions ?? null },
      this.options.initBlobs,
    );
    return this.encodedInit;
  }

  private command(uid: number | undefined): Command {
    const program = this.options.program;
    const cmd = buildCommand({
      nodePath: program ? program.path : this.nodePath,
      bwrapPath: this.bwrapPath,
      readOnlyPaths: this.readOnlyPaths,
      limits: this.limits,
      uid,
      nodeArgs: program ? [] : (this.options.nodeArgs ?? []),
      entry: program ? "" : ENTRY,
    });
    if (!program) return cmd;
    // The same prlimit and bwrap flags as a node worker; only what runs inside differs.
    const at = cmd.args.lastIndexOf(program.path);
    const tail = cmd.args.slice(at + 1);
    const expected = [...NODE_SANDBOX_FLAGS, ""];
    if (at < 0 || tail.length !== expected.length || tail.some((a, i) => a !== expected[i])) {
      throw new SandboxStartError("unexpected sandbox command layout");
    }
    cmd.args.splice(at + 1, tail.length, ...program.args);
    return cmd;
  }

  private spawn(): Worker {
    const uid = this.perSandboxUid ? allocateSandboxUid() : undefined;
    let process: SandboxProcess;
    try {
      process = new SandboxProcess({
        command: this.command(uid),
        initFrame: this.initFrame(),
        startTimeoutMs: this.startTimeoutMs,
        maxMessageBytes: this.limits.maxMessageBytes,
        maxCapturedOutputBytes: this.limits.maxCapturedOutputBytes,
        reusable: true,
        pool: this.poolName,
      });
    } catch (e) {
      if (uid !== undefined) releaseSandboxUid(uid);
      throw e;
    }
    const worker: Worker = { process, key: null, jobs: 0, busyMs: 0, idleTimer: null };
    this.started++;
    this.starting.add(worker);
    this.live.add(worker);
    void process.exited.then(() => {
      if (worker.idleTimer) clearTimeout(worker.idleTimer);
      this.live.delete(worker);
      this.starting.delete(worker);
      for (const list of [this.spare, this.idle]) {
        const i = list.indexOf(worker);
        if (i >= 0) list.splice(i, 1);
      }
      if (uid !== undefined) releaseSandboxUid(uid);
      this.refill();
    });
    process.ready.then(
      () => {
        this.starting.delete(worker);
        this.consecutiveFailures = 0;
        if (this.closed) process.kill();
        else {
          this.spare.push(worker);
          this.dispatch();
        }
      },
      (e: SandboxError) => {
        this.starting.delete(worker);
        process.kill();
        this.onStartFailure(e);
      },
    );
    return worker;
  }

  private onStartFailure(e: SandboxError): void {
    this.startFailures++;
    this.consecutiveFailures++;
    this.waiters.shift()?.reject(e);
    this.refill();
  }
}
