// An in-memory TaskRuntime for tests: the execution node's role (decrypted inputs in, outputs out).
import {
  DEFAULT_LIMITS,
  type ExecutionLimits,
  type ExecutionRequest,
  type FunctionArguments,
  TaskFailure,
  type TaskRuntime,
} from "@cloister/runtime";

export class MemoryRuntime implements TaskRuntime {
  readonly outputs = new Map<string, Buffer>();
  readonly logs: string[] = [];
  constructor(
    readonly inputs: Map<string, Buffer> = new Map(),
    readonly declaredOutputs: string[] = [],
  ) {}
  inputNames(): string[] {
    return [...this.inputs.keys()];
  }
  outputNames(): string[] {
    return [...this.declaredOutputs];
  }
  async readInput(name: string): Promise<Buffer> {
    const data = this.inputs.get(name);
    if (!data) throw new TaskFailure("Invalid input file identifier.");
    return data;
  }
  async writeOutput(name: string, data: Buffer): Promise<void> {
    if (!this.declaredOutputs.includes(name)) throw new TaskFailure("Invalid output file identifier");
    this.outputs.set(name, data);
  }
  log(line: string): void {
    this.logs.push(line);
  }
}

export function request(
  payload: Uint8Array,
  opts: {
    args?: FunctionArguments;
    runtime?: MemoryRuntime;
    limits?: Partial<ExecutionLimits>;
    signal?: AbortSignal;
    executorType?: string;
    executor?: string;
  } = {},
): ExecutionRequest {
  return {
    taskId: "task-1",
    functionName: "f",
    payload: Buffer.from(payload),
    executorType: opts.executorType ?? "wamr",
    executor: opts.executor ?? "wamr",
    arguments: opts.args ?? {},
    runtime: opts.runtime ?? new MemoryRuntime(),
    limits: { ...DEFAULT_LIMITS, timeoutMs: 20_000, ...opts.limits },
    signal: opts.signal ?? new AbortController().signal,
  };
}
