/** JSON values as kept in a task's merged function arguments. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
export type FunctionArguments = { [key: string]: JsonValue };

/**
 * What a function sees of its task's data: inputs and outputs by their declared data names, as
 * plaintext held in memory. The execution node decrypts inputs into it and encrypts outputs out of
 * it; an executor never sees a URL, a key or the host file system.
 */
export interface TaskRuntime {
  /** Names of the inputs assigned to the task. */
  inputNames(): string[];
  /** Names of the outputs assigned to the task. */
  outputNames(): string[];
  /** Whole plaintext of an input. Throws TaskFailure("Invalid input file identifier.") for an unknown name. */
  readInput(name: string): Promise<Buffer>;
  /** Replace the plaintext of an output. Throws TaskFailure("Invalid output file identifier") for an unknown name. */
  writeOutput(name: string, data: Buffer): Promise<void>;
  /** A log line for the task's captured log (kept only when the task asked for `save_log`). */
  log(line: string): void;
}

export interface ExecutionLimits {
  /** Wall-clock deadline for the function, in milliseconds. */
  timeoutMs: number;
  /** Memory the untrusted code may use, in bytes. */
  memoryBytes: number;
  /** Largest return value accepted, in bytes. */
  maxReturnBytes: number;
}

export const DEFAULT_LIMITS: ExecutionLimits = {
  timeoutMs: 60_000,
  memoryBytes: 512 * 1024 * 1024,
  maxReturnBytes: 1024 * 1024,
};

/** Everything an executor needs to run one task's function. */
export interface ExecutionRequest {
  taskId: string;
  /**
   * The function's id. Sandboxed executors keep recyclable workers per function (one function,
   * one owner), so code of two owners never shares a worker process. Absent: the payload digest.
   */
  functionId?: string;
  /** Registered function name (selects the implementation for builtins). */
  functionName: string;
  /** Function code: Python source, a WebAssembly module, JavaScript source; ignored by builtins. */
  payload: Buffer;
  /** Function executor type as registered: `builtin`, `python`, `wamr`, `javascript`, ... */
  executorType: string;
  /** Executor chosen at CreateTask: `builtin`, `mesapy`, `wamr`, ... */
  executor: string;
  /** Merged arguments, keys in ascending byte order. */
  arguments: FunctionArguments;
  /**
   * The same arguments flattened for payloads (`[k1, v1, k2, v2, ...]`), rendered from the
   * stored JSON text so `1.0` stays `1.0`. Executors that pass argv to user code use this rather than re-rendering `arguments`.
   */
  argv?: string[];
  runtime: TaskRuntime;
  limits: ExecutionLimits;
  /** Aborted when the task is cancelled; the executor must stop the function promptly. */
  signal: AbortSignal;
  /**
   * Keeps attestation evidence of this run with the task (the LibOS executor's commit and result
   * signature), for its participants to verify. Optional: executors without evidence ignore it.
   */
  recordEvidence?(evidence: Buffer): void;
}

/** One kind of executor (builtin, wasm, python, javascript, libos). */
export interface Executor {
  /** The (executor type, task executor) pairs this executor runs, e.g. [["builtin", "builtin"]]. */
  readonly accepts: ReadonlyArray<readonly [executorType: string, executor: string]>;
  /** Run the function; resolve with its textual return value, or reject with TaskFailure. */
  execute(request: ExecutionRequest): Promise<string>;
  /** Release pools, sandboxes and workers. */
  close?(): Promise<void>;
}

/**
 * A task that ends with a failure reason. The message is shown
 * to every task participant, so it must never contain a secret.
 */
export class TaskFailure extends Error {
  /**
   * What the legacy (Teaclave) executor returned as a *successful* result for this failure, e.g.
   * `MESAPY_EXEC_ERROR` or WAMR's `Exception: unreachable`. When set, Teaclave clients keep seeing
   * that return value (and the outputs written before the failure are delivered), while the
   * result also carries the failure reason for Cloister's clients (docs/decisions.md).
   */
  readonly legacyReturnValue: string | undefined;

  constructor(reason: string, options?: { cause?: unknown; legacyReturnValue?: string }) {
    super(reason, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = "TaskFailure";
    this.legacyReturnValue = options?.legacyReturnValue;
  }
}
