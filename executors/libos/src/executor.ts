import type { Logger } from "@cloister/core";
import {
  type FunctionManifest,
  type InstanceLimits,
  isLibosError,
  type LibosBackend,
  LibosError,
  manifestOf,
  RUNTIMES,
  type RuntimeName,
  type SessionOptions,
} from "@cloister/libos";
import { argvOf, type ExecutionRequest, type Executor, TaskFailure } from "@cloister/runtime";
import { bootInstance, InstancePool, type ReadyInstance } from "./pool.js";

export const TIMEOUT_REASON = "Runtime Error: Function Timeout";
export const CANCELED_REASON = "Task Canceled";

const MIB = 1024 * 1024;
/** Memory of the agent and the LibOS itself, on top of what the payload may use. */
const INSTANCE_OVERHEAD_BYTES = 64 * MIB;
const DEFAULTS = { processes: 64, tmpMib: 64, stderrBytes: 64 * 1024, outputBytes: 256 * MIB };

export interface LibosRuntimeEntry {
  /** Session options of the runtime: prepared image, trust, evidence issuer, node credentials. */
  session: () => SessionOptions;
}

export interface LibosExecutorOptions {
  backend: LibosBackend;
  runtimes: Partial<Record<RuntimeName, LibosRuntimeEntry>>;
  /** Warm instances kept per runtime (0: every task boots its own). */
  poolSize?: number;
  /** Memory class of pooled instances: what a payload may use by default, in bytes. */
  memoryBytes?: number;
  log?: Logger;
  /** Called with the boot time of every warm instance (seconds), by runtime. */
  onInstanceBooted?: (runtime: RuntimeName, seconds: number) => void;
}

/**
 * Runs unmodified programs (`executor_type = "libos"`, `executor = "libos"`, a Cloister
 * extension) in single-use LibOS instances. Each task gets a fresh, attested instance — warm
 * from a pool when its resources fit the pool's class — that commits to the task before it
 * receives any input and signs what it returns. The instance is killed after the task, on its
 * deadline and on cancel.
 */
export class LibosExecutor implements Executor {
  readonly accepts = [["libos", "libos"]] as const;
  private readonly pools = new Map<RuntimeName, InstancePool>();
  private readonly memoryBytes: number;
  private readonly running = new Set<Promise<void>>();

  constructor(private readonly options: LibosExecutorOptions) {
    this.memoryBytes = options.memoryBytes ?? 512 * MIB;
  }

  private classLimits(memoryBytes: number, tmpMib: number, processes: number): InstanceLimits {
    return {
      memoryBytes: memoryBytes + INSTANCE_OVERHEAD_BYTES,
      tmpfsBytes: tmpMib * MIB,
      processes: processes + 16,
    };
  }

  private poolFor(runtime: RuntimeName): InstancePool | undefined {
    const entry = this.options.runtimes[runtime];
    if (!entry || !this.options.poolSize) return undefined;
    let pool = this.pools.get(runtime);
    if (!pool) {
      pool = new InstancePool(
        this.options.backend,
        entry.session(),
        this.classLimits(this.memoryBytes, DEFAULTS.tmpMib, DEFAULTS.processes),
        this.options.poolSize,
        (e) => this.options.log?.warn({ err: e, runtime }, "libos: warm instance failed to boot"),
        (seconds) => this.options.onInstanceBooted?.(runtime, seconds),
      );
      this.pools.set(runtime, pool);
      pool.start();
    }
    return pool;
  }

  /** Warm instances of every runtime: waiting for a task (spare) and booting (starting). */
  stats(): { spare: number; starting: number } {
    let spare = 0;
    let starting = 0;
    for (const p of this.pools.values()) {
      spare += p.idle;
      starting += p.starting;
    }
    return { spare, starting };
  }

  /** Attested instances of `runtime` waiting for a task. */
  idle(runtime: RuntimeName): number {
    return this.pools.get(runtime)?.idle ?? 0;
  }

  /** Fills the warm pools of every offered runtime in the background. */
  async start(): Promise<void> {
    for (const r of Object.keys(this.options.runtimes) as RuntimeName[]) this.poolFor(r);
  }

  async execute(request: ExecutionRequest): Promise<string> {
    if (request.executorType !== "libos" || request.executor !== "libos") {
      throw new TaskFailure(`function not available: (${request.executorType}, ${request.executor})`);
    }
    let manifest: FunctionManifest;
    try {
      manifest = manifestOf(request.payload);
    } catch (e) {
      throw new TaskFailure(`invalid function payload: ${(e as Error).message}`, { cause: e });
    }
    const entry = this.options.runtimes[manifest.runtime];
    if (!entry) throw new TaskFailure(`runtime ${manifest.runtime} is not offered by this node`);
    const memoryBytes = (manifest.resources.memoryMib ?? 0) * MIB || this.memoryBytes;
    if (memoryBytes > Math.max(request.limits.memoryBytes, this.memoryBytes)) {
      throw new TaskFailure(`the function asks for ${memoryBytes / MIB} MiB, more than this node allows`);
    }
    const timeoutMs = Math.min(
      request.limits.timeoutMs,
      (manifest.resources.timeoutS ?? Number.POSITIVE_INFINITY) * 1000,
    );
    const inputNames = request.runtime.inputNames();
    for (const n of manifest.inputs) {
      if (!inputNames.includes(n)) throw new TaskFailure(`input ${n} is not assigned to the task`);
    }
    const outputNames = request.runtime.outputNames();
    const tmpMib = manifest.resources.tmpMib ?? DEFAULTS.tmpMib;
    const processes = manifest.resources.processes ?? DEFAULTS.processes;
    const spec = Buffer.from(
      JSON.stringify({
        argv: [...manifest.command, ...argvOf(request)],
        env: { ...RUNTIMES[manifest.runtime].env, ...manifest.env },
        inputs: inputNames,
        outputs: outputNames,
        result: manifest.result,
        mode: manifest.mode,
        limits: {
          cpuSeconds: manifest.resources.cpuS ?? Math.ceil(timeoutMs / 1000),
          processes,
          stdoutBytes: request.limits.maxReturnBytes,
          outputBytes: DEFAULTS.outputBytes,
          stderrBytes: DEFAULTS.stderrBytes,
          fileSizeBytes: tmpMib * MIB,
          addressSpaceMib: 0,
        },
      }),
    );
    const inputs = new Map<string, Buffer>();
    for (const n of inputNames) inputs.set(n, await request.runtime.readInput(n));

    const control = new AbortController();
    const onAbort = () => control.abort(request.signal.reason);
    request.signal.addEventListener("abort", onAbort, { once: true });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      control.abort(new TaskFailure(TIMEOUT_REASON));
    }, timeoutMs);
    let ready: ReadyInstance | undefined;
    const finished = (async () => {
      const fits =
        memoryBytes === this.memoryBytes && tmpMib === DEFAULTS.tmpMib && processes === DEFAULTS.processes;
      const pool = fits ? this.poolFor(manifest.runtime) : undefined;
      ready = pool
        ? await pool.take(control.signal)
        : await bootInstance(
            this.options.backend,
            entry.session(),
            this.classLimits(memoryBytes, tmpMib, processes),
            control.signal,
          );
      const ended = new Promise<never>((_, reject) => {
        const stop = () => reject(control.signal.reason);
        if (control.signal.aborted) stop();
        control.signal.addEventListener("abort", stop, { once: true });
      });
      return Promise.race([
        ready.session.run({
          taskId: request.taskId,
          payload: request.payload,
          spec,
          inputs,
          // The payload's stderr lines, live (the node relays them when the task keeps its log).
          onLog: (line) => {
            if (line) request.runtime.log(line);
          },
        }),
        ended,
      ]);
    })();
    try {
      const result = await finished;
      request.recordEvidence?.(Buffer.from(JSON.stringify(result.evidence)));
      if (result.exit !== 0) {
        throw new TaskFailure(
          result.signal
            ? `the payload was killed by ${result.signal}`
            : `the payload exited with status ${result.exit}`,
        );
      }
      for (const n of outputNames) {
        const data = result.outputs.get(n);
        if (data) await request.runtime.writeOutput(n, data);
      }
      return manifest.result === "stdout" ? result.stdout.toString("utf8") : "";
    } catch (e) {
      if (request.signal.aborted) throw new TaskFailure(CANCELED_REASON, { cause: e });
      if (timedOut) throw new TaskFailure(TIMEOUT_REASON, { cause: e });
      if (e instanceof TaskFailure) throw e;
      if (isLibosError(e, "payload-hash"))
        throw new TaskFailure("the LibOS instance refused the payload: hash mismatch", { cause: e });
      if (isLibosError(e, "evidence"))
        throw new TaskFailure(`LibOS evidence rejected: ${e.message}`, { cause: e });
      if (isLibosError(e, "limit")) throw new TaskFailure(`limit exceeded: ${e.message}`, { cause: e });
      if (isLibosError(e, "payload")) throw new TaskFailure(`the payload failed: ${e.message}`, { cause: e });
      if (isLibosError(e, "epc")) throw new TaskFailure(`EPC budget exceeded: ${e.message}`, { cause: e });
      if (e instanceof LibosError) throw new TaskFailure(`LibOS instance failed: ${e.message}`, { cause: e });
      this.options.log?.warn({ err: e, task: request.taskId }, "libos: unexpected failure");
      throw new TaskFailure("LibOS instance failed", { cause: e });
    } finally {
      clearTimeout(timer);
      request.signal.removeEventListener("abort", onAbort);
      // The kill is started now (so a cancel stops the payload at once) and awaited in the
      // background; close() waits for every kill still under way.
      const r = ready as ReadyInstance | undefined;
      finished.catch(() => undefined);
      const kill = (async () => {
        const late = r ?? (await finished.then(() => ready).catch(() => ready));
        late?.session.close();
        await late?.instance.kill();
      })();
      this.running.add(kill);
      void kill.finally(() => this.running.delete(kill));
    }
  }

  async close(): Promise<void> {
    await Promise.all([...this.pools.values()].map((p) => p.close()));
    await Promise.all([...this.running]);
    await this.options.backend.close();
  }
}
