/**
 * Executor names. A function's `executorType` says what its payload is; a task's `executor`
 * says which runtime runs it. Teaclave named the Python task executor `mesapy`, and the wire
 * keeps that name (`python` is refused there), so `taskExecutorFor` maps a function's type to
 * the name CreateTask expects: `python` means MesaPy payloads (Python 3 with the Python 2 shim),
 * as it always has. `python3` runs a `python` function as plain Python 3 (files give `bytes`, no
 * shim); it is asked for by name. `python3`, `javascript` and `libos` are Cloister extensions.
 */
export const EXECUTOR_TYPES = ["builtin", "python", "wamr", "javascript", "libos"] as const;
export type ExecutorType = (typeof EXECUTOR_TYPES)[number];

export const TASK_EXECUTORS = ["builtin", "mesapy", "python3", "wamr", "javascript", "libos"] as const;
export type TaskExecutor = (typeof TASK_EXECUTORS)[number];

const FOR_TYPE: Record<ExecutorType, TaskExecutor> = {
  builtin: "builtin",
  python: "mesapy",
  wamr: "wamr",
  javascript: "javascript",
  libos: "libos",
};

export const isExecutorType = (s: string): s is ExecutorType =>
  (EXECUTOR_TYPES as readonly string[]).includes(s);
export const isTaskExecutor = (s: string): s is TaskExecutor =>
  (TASK_EXECUTORS as readonly string[]).includes(s);

/** The task executor that runs functions of this executor type. */
export const taskExecutorFor = (type: ExecutorType): TaskExecutor => FOR_TYPE[type];

/**
 * A task executor from either spelling users meet: a task executor name or a function's
 * executor type (`python` → `mesapy`). Undefined for anything else.
 */
export function resolveTaskExecutor(name: string): TaskExecutor | undefined {
  if (isTaskExecutor(name)) return name;
  if (isExecutorType(name)) return taskExecutorFor(name);
  return undefined;
}
