export { flattenArguments } from "@cloister/runtime";
export {
  CANCELED_REASON,
  MAX_RESULT_BYTES,
  MESAPY_ERROR_BUFFER_TOO_SHORT,
  MESAPY_EXEC_ERROR,
  PythonExecutor,
  type PythonExecutorOptions,
  REPLY_TOO_LARGE_REASON,
  TIMEOUT_REASON,
  UNAVAILABLE_REASON,
} from "./executor.js";
