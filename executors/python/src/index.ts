export { flattenArguments } from "@cloister/runtime";
export { PythonExecutor, type PythonExecutorOptions } from "./executor.js";
export {
  CANCELED_REASON,
  MAX_RESULT_BYTES,
  MEMORY_REASON,
  MESAPY_ERROR_BUFFER_TOO_SHORT,
  MESAPY_EXEC_ERROR,
  PYTHON_EXEC_ERROR,
  REPLY_TOO_LARGE_REASON,
  TIMEOUT_REASON,
  UNAVAILABLE_REASON,
} from "./reasons.js";
export { PYTHON_PAIRS } from "./run-task.js";
export { DEFAULT_PYTHON } from "./zygote-pool.js";
