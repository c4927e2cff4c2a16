import { type Logger, pino } from "pino";

export type { Logger };

/**
 * Field names whose values are secrets. pino replaces them before a record is serialised, so a
 * careless `log.info({ req })` cannot leak a password, token or key into the logs.
 */
const REDACT = [
  "password",
  "token",
  "key",
  "iv",
  "secret",
  "payload",
  "*.password",
  "*.token",
  "*.key",
  "*.iv",
  "*.secret",
  "*.payload",
  "*.*.password",
  "*.*.token",
  "*.*.key",
  "metadata.token",
];

/** Structured JSON logs on stderr (stdout is kept for command output). */
export function createLogger(name: string, level = process.env.CLOISTER_LOG_LEVEL ?? "info"): Logger {
  return pino(
    { name, level, redact: { paths: REDACT, censor: "[redacted]" }, base: { pid: process.pid } },
    pino.destination({ fd: 2, sync: false }),
  );
}

/** A logger that drops everything; for library callers that pass none. */
export const silentLogger: Logger = pino({ level: "silent" });
