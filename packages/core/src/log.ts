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

/** Lines logged within this long of a first one go out with it, in one write. */
const FLUSH_MS = 5;
/** Buffered lines are written at once when they reach this many bytes. */
const BUFFER_BYTES = 8 * 1024;

type Destination = ReturnType<typeof pino.destination>;
let stderr: Destination | undefined;

/**
 * stderr, shared by every logger of the process (so lines keep their order), writing what was
 * logged within FLUSH_MS in one write. A write per line cost about 100 µs of CPU here and as
 * much again in the supervisor relaying the pipe to the log file, for each line of a task. What
 * is buffered is written when the process exits (pino flushes its destinations then); a process
 * killed outright loses at most the last FLUSH_MS of lines, as it lost the line being written.
 */
function stderrDestination(): Destination {
  if (stderr) return stderr;
  const dest = pino.destination({ fd: 2, sync: false, minLength: BUFFER_BYTES });
  const write = dest.write.bind(dest);
  let armed = false;
  const flush = () => {
    armed = false;
    try {
      dest.flush();
    } catch {
      // Closed meanwhile (the process is ending and flushed it).
    }
  };
  dest.write = (chunk: string): boolean => {
    const accepted = write(chunk);
    if (!armed) {
      armed = true;
      setTimeout(flush, FLUSH_MS).unref();
    }
    return accepted;
  };
  stderr = dest;
  return dest;
}

/** Structured JSON logs on stderr (stdout is kept for command output). */
export function createLogger(name: string, level = process.env.CLOISTER_LOG_LEVEL ?? "info"): Logger {
  return pino(
    { name, level, redact: { paths: REDACT, censor: "[redacted]" }, base: { pid: process.pid } },
    stderrDestination(),
  );
}

/**
 * `log` without the redaction pass, for hot lines whose fields are only identifiers and counts
 * the code chose itself (task ids, generations, result kinds), never request data or errors.
 * Redaction walks every field of every line with its wildcard paths (about half of a line's
 * cost, and most of its garbage); anything that may carry a secret goes through `log` itself.
 */
export const idsOnlyLogger = (log: Logger): Logger => log.child({}, { redact: { paths: [] } });

/** A logger that drops everything; for library callers that pass none. */
export const silentLogger: Logger = pino({ level: "silent" });
