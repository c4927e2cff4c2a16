/**
 * Host side of a sandboxed guest run, shared by the WebAssembly and JavaScript executors: stage
 * the task's inputs as blobs, run one job in the pool, turn sandbox errors into task failure
 * reasons, and check everything that comes back (it is produced by untrusted code) before it
 * reaches the task's outputs.
 */
import { createHash } from "node:crypto";
import type { ExecutionRequest } from "@cloister/runtime";
import { TaskFailure } from "@cloister/runtime";
import type { RecyclingSandboxPool, SandboxError, SandboxResult } from "@cloister/sandbox";

export const TIME_LIMIT_EXCEEDED = "time limit exceeded";
export const MEMORY_LIMIT = "memory limit exceeded";
export const TASK_CANCELED = "Task Canceled by the user";
export const RETURN_LIMIT_EXCEEDED = "return value limit exceeded";
/** Prefix of the reason when the sandbox's reply is over the host's limits (the detail follows). */
export const REPLY_TOO_LARGE = "reply too large";

/** Blob names used between host and worker. */
export const PAYLOAD_BLOB = "payload";
export const INPUT_PREFIX = "input:";
export const OUTPUT_PREFIX = "output:";

/** Longest failure reason accepted from a guest (reasons are shown to every participant). */
const MAX_REASON_CHARS = 2048;
const MAX_LOG_LINES = 10_000;

/** The JSON part of a worker's reply. */
export type GuestReplyData =
  | { ok: true; returnValue: string; logs?: string[]; trapped?: boolean }
  | { ok: false; reason: string; logs?: string[] };

export interface GuestJobData<L> {
  argv: string[];
  outputNames: string[];
  limits: L;
  /** SHA-256 of the payload (hex): the worker's cache key for what it compiled from it. */
  payloadDigest: string;
}

/** Prefix of the failure reason of a WebAssembly trap (its legacy result is the text alone). */
export const WASM_TRAP = "WASM_TRAP";

/**
 * The recyclable worker a task may use: workers are never shared between functions (one function,
 * one owner). Without a function id (direct use of the executor) the payload digest stands in.
 */
export function workerKey(request: ExecutionRequest, digest: string): string {
  return request.functionId ? `function:${request.functionId}` : `payload:${digest}`;
}

export const payloadDigest = (payload: Uint8Array): string =>
  createHash("sha256").update(payload).digest("hex");

export interface RunGuestOptions<L> {
  pool: RecyclingSandboxPool;
  request: ExecutionRequest;
  argv: string[];
  guestLimits: L;
  /** Total bytes the outputs may hold; checked again here, whatever the guest claims. */
  maxOutputBytes: number;
  /** Wall-clock deadline of the sandbox (default: the task's timeout). */
  sandboxTimeoutMs?: number;
  /** Bytes of log lines the guest may return (default 0: it returns none). */
  maxLogBytes?: number;
}

/**
 * The largest JSON part of an honest reply: return value, log lines (each byte at worst six
 * when JSON-escaped) or a failure reason, with room for the framing of every line.
 */
function replyHeaderLimit(maxReturnBytes: number, maxLogBytes: number): number {
  return 6 * (maxReturnBytes + maxLogBytes + 4 * MAX_REASON_CHARS) + 4 * MAX_LOG_LINES + 4096;
}

/** Runs one task in a sandbox and delivers its outputs and logs; resolves with the return value. */
export async function runSandboxedGuest<L>(opts: RunGuestOptions<L>): Promise<string> {
  const { pool, request } = opts;
  const { runtime } = request;
  const outputNames = runtime.outputNames();
  const blobs = new Map<string, Uint8Array>([[PAYLOAD_BLOB, request.payload]]);
  for (const name of runtime.inputNames()) blobs.set(INPUT_PREFIX + name, await runtime.readInput(name));
  if (request.signal.aborted) throw new TaskFailure(TASK_CANCELED);

  const digest = payloadDigest(request.payload);
  const data: GuestJobData<L> = {
    argv: opts.argv,
    outputNames,
    limits: opts.guestLimits,
    payloadDigest: digest,
  };
  // Lines the guest sends while it runs (a JavaScript guest streams them); bounded here like the
  // lines of a reply, since the guest is untrusted.
  let lines = 0;
  let logBytes = 0;
  const maxLogBytes = opts.maxLogBytes ?? Number.POSITIVE_INFINITY;
  const log = (line: string) => {
    logBytes += Buffer.byteLength(line);
    if (++lines > MAX_LOG_LINES || logBytes > maxLogBytes) return;
    runtime.log(line);
  };
  let result: SandboxResult;
  try {
    result = await pool.run(
      workerKey(request, digest),
      { data, blobs },
      {
        signal: request.signal,
        timeoutMs: opts.sandboxTimeoutMs ?? request.limits.timeoutMs,
        // A worker whose task failed, trapped or hit a limit is replaced, never reused.
        // So is one whose reply the host refuses below (a forged or oversized result).
        keep: (r) => {
          const d = r.data as Partial<Record<string, unknown>> | null;
          if (d?.ok !== true || d.trapped === true || d.recycle === true) return false;
          try {
            accepted(r, request, outputNames, opts.maxOutputBytes);
            return true;
          } catch {
            return false;
          }
        },
        // Checked from the reply's length fields before it is read: whatever the guest claims.
        replyLimits: {
          maxHeaderBytes: replyHeaderLimit(request.limits.maxReturnBytes, opts.maxLogBytes ?? 0),
          maxBlobBytes: opts.maxOutputBytes,
        },
        onLog: log,
      },
    );
  } catch (e) {
    throw sandboxFailure(e);
  }

  const reply = parseReply(result.data);
  for (const line of reply.logs?.slice(0, MAX_LOG_LINES) ?? []) log(line);
  if (!reply.ok) throw new TaskFailure(reply.reason);
  const outputs = accepted(result, request, outputNames, opts.maxOutputBytes);
  for (const [name, value] of outputs) await runtime.writeOutput(name, value);
  if (reply.trapped) {
    // A failure for Cloister's clients; Teaclave clients keep WAMR's text as the return value.
    throw new TaskFailure(`${WASM_TRAP}: ${reply.returnValue}`, { legacyReturnValue: reply.returnValue });
  }
  return reply.returnValue;
}

/** The outputs of a successful reply, once its return value and outputs pass the host's limits. */
function accepted(
  result: SandboxResult,
  request: ExecutionRequest,
  outputNames: string[],
  maxOutputBytes: number,
): Array<[string, Buffer]> {
  const reply = parseReply(result.data);
  if (!reply.ok) throw new TaskFailure(reply.reason);
  const returnBytes = Buffer.byteLength(reply.returnValue, "utf8");
  if (returnBytes > request.limits.maxReturnBytes) throw new TaskFailure(RETURN_LIMIT_EXCEEDED);
  const outputs: Array<[string, Buffer]> = [];
  let total = 0;
  for (const [key, value] of result.blobs) {
    const name = key.slice(OUTPUT_PREFIX.length);
    if (!key.startsWith(OUTPUT_PREFIX) || !outputNames.includes(name)) throw invalidReply();
    total += value.length;
    outputs.push([name, value]);
  }
  if (total > maxOutputBytes) {
    throw new TaskFailure(
      `output limit exceeded: the task's outputs may hold at most ${maxOutputBytes} bytes`,
    );
  }
  return outputs;
}

function invalidReply(): TaskFailure {
  return new TaskFailure("execution failed: the sandbox returned an invalid result");
}

function parseReply(data: unknown): GuestReplyData {
  if (typeof data !== "object" || data === null) throw invalidReply();
  const d = data as Record<string, unknown>;
  const logs = d.logs;
  if (logs !== undefined && !(Array.isArray(logs) && logs.every((l) => typeof l === "string")))
    throw invalidReply();
  if (d.ok === true && typeof d.returnValue === "string") {
    if (d.trapped !== undefined && typeof d.trapped !== "boolean") throw invalidReply();
    if (d.trapped === true && Buffer.byteLength(d.returnValue) > MAX_REASON_CHARS) throw invalidReply();
    return {
      ok: true,
      returnValue: d.returnValue,
      logs: logs as string[] | undefined,
      trapped: d.trapped === true,
    };
  }
  if (
    d.ok === false &&
    typeof d.reason === "string" &&
    d.reason.length > 0 &&
    d.reason.length <= MAX_REASON_CHARS
  ) {
    return { ok: false, reason: d.reason, logs: logs as string[] | undefined };
  }
  throw invalidReply();
}

/** Maps a pool error to the task's failure reason (never quoting untrusted worker text). */
export function sandboxFailure(e: unknown): TaskFailure {
  const kind = (e as Partial<SandboxError>)?.kind;
  switch (kind) {
    case "timeout":
      return new TaskFailure(TIME_LIMIT_EXCEEDED, { cause: e });
    case "aborted":
      return new TaskFailure(TASK_CANCELED, { cause: e });
    case "crashed": {
      const signal = (e as { signal?: string | null }).signal;
      // RLIMIT_CPU sends SIGXCPU (then SIGKILL): the function used up its CPU time.
      if (signal === "SIGXCPU") return new TaskFailure(TIME_LIMIT_EXCEEDED, { cause: e });
      // With RLIMIT_AS exhausted V8 aborts the process ("Fatal process out of memory"): SIGTRAP
      // or SIGABRT. An assertion failure would look the same; out of memory is by far the likelier.
      if (signal === "SIGABRT" || signal === "SIGTRAP") {
        return new TaskFailure(MEMORY_LIMIT, { cause: e });
      }
      return new TaskFailure(`execution crashed (${signal ? `signal ${signal}` : "unexpected exit"})`, {
        cause: e,
      });
    }
    case "oversized":
      return new TaskFailure(`${REPLY_TOO_LARGE}: ${(e as Error).message}`, { cause: e });
    case "job":
    case "protocol":
      return new TaskFailure("execution failed: the sandboxed worker failed", { cause: e });
    default:
      return new TaskFailure(`execution environment unavailable: ${(e as Error)?.message ?? String(e)}`, {
        cause: e,
      });
  }
}
