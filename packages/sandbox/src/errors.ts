/** Why a sandboxed job did not produce a result. */
export type SandboxFailureKind =
  | "unavailable"
  | "start"
  | "timeout"
  | "aborted"
  | "crashed"
  | "protocol"
  | "oversized"
  | "job"
  | "closed";

/**
 * Base of every sandbox error. Messages never contain task data; where a message quotes the
 * worker (`SandboxJobError`) it is text produced by untrusted code and is marked as such.
 */
export class SandboxError extends Error {
  readonly kind: SandboxFailureKind;
  constructor(kind: SandboxFailureKind, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "SandboxError";
    this.kind = kind;
  }
}

/** bubblewrap (or prlimit) cannot run here. There is deliberately no unsandboxed fallback. */
export class SandboxUnavailableError extends SandboxError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("unavailable", message, options);
    this.name = "SandboxUnavailableError";
  }
}

/** A sandbox did not become ready: the worker's init failed, crashed or took too long. */
export class SandboxStartError extends SandboxError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("start", message, options);
    this.name = "SandboxStartError";
  }
}

/** The job exceeded its wall-clock deadline; the sandbox was killed. */
export class SandboxTimeoutError extends SandboxError {
  readonly timeoutMs: number;
  constructor(timeoutMs: number) {
    super("timeout", `sandboxed job exceeded its ${timeoutMs} ms deadline`);
    this.name = "SandboxTimeoutError";
    this.timeoutMs = timeoutMs;
  }
}

/** The caller's AbortSignal fired; the sandbox was killed. */
export class SandboxAbortedError extends SandboxError {
  constructor(options?: { cause?: unknown }) {
    super("aborted", "sandboxed job was cancelled", options);
    this.name = "SandboxAbortedError";
  }
}

/**
 * The worker process ended without a result: a crash, an out-of-memory abort, the CPU limit
 * (SIGXCPU/SIGKILL) or a deliberate exit.
 */
export class SandboxCrashedError extends SandboxError {
  readonly exitCode: number | null;
  readonly signal: string | null;
  /**
   * The end of what the worker wrote to stderr before it died, for logs and diagnosis (e.g. an
   * out-of-memory abort). Untrusted text: never show it to task participants as a reason.
   */
  stderrTail = "";
  constructor(exitCode: number | null, signal: string | null) {
    super(
      "crashed",
      `sandboxed worker ended without a result (${signal ? `signal ${signal}` : `exit code ${exitCode}`})`,
    );
    this.name = "SandboxCrashedError";
    this.exitCode = exitCode;
    this.signal = signal;
  }
}

/** The worker sent something that is not a valid frame or message; it was killed. */
export class SandboxProtocolError extends SandboxError {
  constructor(message: string) {
    super("protocol", `sandboxed worker broke the protocol: ${message}`);
    this.name = "SandboxProtocolError";
  }
}

const PART_NAMES = {
  frame: "the reply",
  header: "the result (return value and logs)",
  blobs: "the outputs",
} as const;

/**
 * The worker announced a reply larger than the host accepts for this job; it was killed before
 * the reply was read. The sizes are the worker's claims, checked from the frame's prefix.
 */
export class SandboxReplyTooLargeError extends SandboxError {
  readonly part: "frame" | "header" | "blobs";
  readonly size: number;
  readonly limit: number;
  constructor(part: "frame" | "header" | "blobs", size: number, limit: number) {
    super("oversized", `${PART_NAMES[part]} of ${size} bytes exceeds the limit of ${limit} bytes`);
    this.name = "SandboxReplyTooLargeError";
    this.part = part;
    this.size = size;
    this.limit = limit;
  }
}

/** The worker module's `run` threw. `workerMessage` is untrusted text from inside the sandbox. */
export class SandboxJobError extends SandboxError {
  readonly workerMessage: string;
  constructor(workerMessage: string) {
    super("job", "sandboxed job failed inside the worker");
    this.name = "SandboxJobError";
    this.workerMessage = workerMessage;
  }
}

/** The pool was closed before the job could run. */
export class SandboxClosedError extends SandboxError {
  constructor() {
    super("closed", "sandbox pool is closed");
    this.name = "SandboxClosedError";
  }
}
