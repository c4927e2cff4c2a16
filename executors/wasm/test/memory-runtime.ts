// An in-memory TaskRuntime for tests: the execution node's role (decrypted inputs in, outputs out).
import {
  DEFAULT_LIMITS,
  type ExecutionLimits,
  type ExecutionRequest,
  type FunctionArguments,
  MemoryTaskRuntime,
} from "@cloister/runtime";

/** The in-memory runtime an execution node gives an executor. */
export { MemoryTaskRuntime as MemoryRuntime };

export function request(
  payload: Uint8Array,
  opts: {
    args?: FunctionArguments;
    runtime?: MemoryTaskRuntime;
    limits?: Partial<ExecutionLimits>;
    signal?: AbortSignal;
    executorType?: string;
    executor?: string;
    functionId?: string;
  } = {},
): ExecutionRequest {
  return {
    taskId: "task-1",
    ...(opts.functionId ? { functionId: opts.functionId } : {}),
    functionName: "f",
    payload: Buffer.from(payload),
    executorType: opts.executorType ?? "wamr",
    executor: opts.executor ?? "wamr",
    arguments: opts.args ?? {},
    runtime: opts.runtime ?? new MemoryTaskRuntime(),
    limits: { ...DEFAULT_LIMITS, timeoutMs: 20_000, ...opts.limits },
    signal: opts.signal ?? new AbortController().signal,
  };
}
