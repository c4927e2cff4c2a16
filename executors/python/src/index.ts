export { flattenArguments } from "@cloister/runtime";
export {
  CANCELED_REASON,
  MESAPY_ERROR_BUFFER_TOO_SHORT,
  MESAPY_EXEC_ERROR,
  PythonExecutor,
  type PythonExecutorOptions,
  TIMEOUT_REASON,
  UNAVAILABLE_REASON,
} from "./executor.js";
