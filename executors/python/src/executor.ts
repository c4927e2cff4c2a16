import { type ExecutionRequest, type Executor, TaskFailure } from "@cloister/runtime";
import type { RecyclingPoolStats, RecyclingSandboxPool } from "@cloister/sandbox";
import { UNAVAILABLE_REASON } from "./reasons.js";
import { PYTHON_PAIRS, runZygoteTask } from "./run-task.js";
import { createZygotePool, defaultMemoryBytes, type ZygotePoolOptions } from "./zygote-pool.js";

export type PythonExecutorOptions = ZygotePoolOptions;

/**
 * Runs Teaclave Python payloads with Debian's CPython 3 (numpy, and scipy/pandas when installed)
 * inside bubblewrap: a zygote per function imports numpy once and forks a fresh child per task,
 * which is discarded after the task (docs/isolation.md). Accepts (python, mesapy) — MesaPy
 * payloads, with the Python 2 shim and `_numpypy` — and (python, python3) — plain Python 3.
 */
export class PythonExecutor implements Executor {
  readonly accepts = PYTHON_PAIRS;
  private readonly pool: RecyclingSandboxPool | null;
  private readonly unavailable: Error | null = null;
  private readonly memoryBytes: number;

  constructor(options: PythonExecutorOptions = {}) {
    this.memoryBytes = defaultMemoryBytes(options.limits);
    let pool: RecyclingSandboxPool | null = null;
    try {
      pool = createZygotePool({ ...options, memoryBytes: this.memoryBytes });
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
    if (!PYTHON_PAIRS.some(([t, e]) => t === request.executorType && e === request.executor)) {
      throw new TaskFailure(`function not available: (${request.executorType}, ${request.executor})`);
    }
    if (!this.pool) throw new TaskFailure(UNAVAILABLE_REASON, { cause: this.unavailable });
    request.signal.throwIfAborted();
    return runZygoteTask({ pool: this.pool, request, memoryBytes: this.memoryBytes });
  }

  async close(): Promise<void> {
    await this.pool?.close();
  }
}
