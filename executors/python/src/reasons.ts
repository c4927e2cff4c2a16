/** Result texts of the legacy MesaPy executor. */
export const MESAPY_EXEC_ERROR = "MESAPY_EXEC_ERROR";
export const MESAPY_ERROR_BUFFER_TOO_SHORT = "MESAPY_ERROR_BUFFER_TOO_SHORT";
/** Reason prefix of an exception escaping a (python, python) payload. */
export const PYTHON_EXEC_ERROR = "PYTHON_EXEC_ERROR";
/** Failure reasons of this executor (not legacy texts: the legacy executor had no deadline). */
export const TIMEOUT_REASON = "Runtime Error: Function Timeout";
export const CANCELED_REASON = "Task Canceled";
export const UNAVAILABLE_REASON = "Runtime Error: Python executor unavailable";
export const MEMORY_REASON = "memory limit exceeded";
/** Prefix of the reason when the sandbox's reply is over the host's limits (the detail follows). */
export const REPLY_TOO_LARGE_REASON = "Runtime Error: reply too large";
/** The legacy result buffer: a longer result is MESAPY_ERROR_BUFFER_TOO_SHORT. */
export const MAX_RESULT_BYTES = 20_480;
