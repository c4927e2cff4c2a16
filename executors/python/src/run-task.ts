// One task in a zygote of the pool: the job it is sent, and what the host accepts of the reply.
// Everything in the reply was produced inside the sandbox, the child's part by the payload's own
// process, so each field is checked here, whatever the zygote or task.py would have written.
import { createHash } from "node:crypto";
import { argvOf, type ExecutionRequest, TaskFailure } from "@cloister/runtime";
import {
  decodeFrames,
  type RecyclingSandboxPool,
  type SandboxError,
  type SandboxResult,
} from "@cloister/sandbox";
import {
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

/** The sandbox is killed only if the task's own CPU limit and the zygote did not end it first. */
const KILL_GRACE_MS = 1000;
/**
 * Bounds of the task log lines taken from the child's stdout/stderr, as the execution node's relay
 * bounds them (16 KiB a line; a little over the 1 MiB a task keeps, so an over-long log still
 * reaches the relay, which cuts it and marks the cut, as for JavaScript's console lines).
 */
const MAX_LOG_LINES = 10_000;
const OUTPUT_LINES = { maxLineBytes: 16 * 1024, maxBytes: 1024 * 1024 + 64 * 1024 };
const SIGXCPU = 24;
const SIGXFSZ = 25;
/** Largest result (return value and outputs) a task may hand back, in bytes. */
export const MAX_CHILD_RESULT_BYTES = 128 * 1024 * 1024;
/** The zygote's own status frame is small; the child's result travels as its blob. */
export const ZYGOTE_REPLY_LIMITS = { maxHeaderBytes: 64 * 1024, maxBlobBytes: MAX_CHILD_RESULT_BYTES };

/** Task executors of the Python executor type: MesaPy payloads (the shim) and plain Python 3. */
export const PYTHON_PAIRS = [
  ["python", "mesapy"],
  ["python", "python3"],
] as const;

/** What the zygote reports about the child that ran a task. */
interface ZygoteStatus {
  exit?: number;
  signal?: number;
  dirty?: string[];
}

/** What the child itself reports (untrusted: it ran the payload). */
interface ChildReply {
  value?: unknown;
  error?: unknown;
  memory?: unknown;
  tooLong?: unknown;
  outputs?: unknown;
}

export interface ZygoteTask {
  pool: RecyclingSandboxPool;
  request: ExecutionRequest;
  /** The task memory the pool was built for (a request never gets more). */
  memoryBytes: number;
}

/** Runs the request in a zygote bound to its function; the value, or a TaskFailure. */
export async function runZygoteTask({ pool, request, memoryBytes }: ZygoteTask): Promise<string> {
  const mesapy = request.executor === "mesapy";
  const { runtime } = request;
  const inputNames = runtime.inputNames();
  const outputNames = runtime.outputNames();
  const blobs = new Map<string, Uint8Array>([["payload", request.payload]]);
  await Promise.all(
    inputNames.map(async (name, k) => {
      try {
        blobs.set(`i${k}`, await runtime.readInput(name));
      } catch {
        // Left out: teaclave_open on it raises the legacy open error inside the payload.
      }
    }),
  );
  const data = {
    dialect: mesapy ? "mesapy" : "python",
    argv: argvOf(request),
    inputs: inputNames,
    outputs: outputNames,
    limits: {
      memoryBytes: Math.min(request.limits.memoryBytes, memoryBytes),
      cpuSeconds: Math.ceil(request.limits.timeoutMs / 1000),
      resultBytes: MAX_CHILD_RESULT_BYTES,
    },
  };
  // One function per zygote (docs/isolation.md); the payload digest where no function id is given.
  const key = request.functionId
    ? `function:${request.functionId}`
    : `payload:${createHash("sha256").update(request.payload).digest("hex")}`;

  // The child's stdout and stderr lines go to the task log while it runs, straight from the
  // sandbox's output pipes (the payload never holds the frame channel, the zygote never sees them).
  let lines = 0;
  const onLog = (line: string) => {
    if (line && lines < MAX_LOG_LINES) {
      lines++;
      runtime.log(line);
    }
  };
  let result: SandboxResult;
  try {
    result = await pool.run(
      key,
      { data, blobs },
      {
        signal: request.signal,
        timeoutMs: request.limits.timeoutMs + KILL_GRACE_MS,
        // Judged from the frame's length fields before it is read.
        replyLimits: ZYGOTE_REPLY_LIMITS,
        onLog,
        outputLines: OUTPUT_LINES,
        // The task's process is gone either way; the zygote goes too when the task crashed or
        // left anything behind outside its process.
        keep: (r) => {
          const s = r.data as ZygoteStatus | null;
          return s?.exit === 0 && s.signal === undefined && !s.dirty;
        },
      },
    );
  } catch (e) {
    const kind = (e as Partial<SandboxError>)?.kind;
    if (kind === "aborted") throw new TaskFailure(CANCELED_REASON, { cause: e });
    if (kind === "timeout") throw new TaskFailure(TIMEOUT_REASON, { cause: e });
    if (kind === "oversized")
      throw new TaskFailure(`${REPLY_TOO_LARGE_REASON}: ${(e as Error).message}`, { cause: e });
    throw new TaskFailure(UNAVAILABLE_REASON, { cause: e });
  }
  const fail = (reason: string): never => {
    throw new TaskFailure(reason, mesapy ? { legacyReturnValue: MESAPY_EXEC_ERROR } : {});
  };
  const tooLong = (): never => {
    throw new TaskFailure(
      `${mesapy ? MESAPY_ERROR_BUFFER_TOO_SHORT : PYTHON_EXEC_ERROR}: the result is longer than ${MAX_RESULT_BYTES} bytes`,
      mesapy ? { legacyReturnValue: MESAPY_ERROR_BUFFER_TOO_SHORT } : {},
    );
  };
  const status = (result.data ?? {}) as ZygoteStatus;
  if (status.signal === SIGXCPU) throw new TaskFailure(TIMEOUT_REASON);
  if (status.signal === SIGXFSZ)
    fail(`output limit exceeded: the task's outputs may hold at most ${MAX_CHILD_RESULT_BYTES} bytes`);
  if (status.signal !== undefined) fail(`execution crashed (signal ${Number(status.signal)})`);
  const child = parseChild(result.blobs.get("child"));
  if (!child) fail(`execution crashed (the function ended its process, exit ${Number(status.exit)})`);
  const { reply, blobs: outBlobs } = child!;

  const declared = new Set(outputNames);
  const written = Array.isArray(reply.outputs) ? reply.outputs : [];
  for (const [k, name] of written.entries()) {
    const bytes = outBlobs.get(`o${k}`);
    // Only declared outputs are accepted; their sizes are the runtime's to bound.
    if (typeof name !== "string" || !declared.has(name) || !bytes) continue;
    await runtime.writeOutput(name, bytes);
  }
  if (reply.memory) fail(MEMORY_REASON);
  if (reply.tooLong) tooLong();
  if (typeof reply.error === "string") {
    fail(`${mesapy ? MESAPY_EXEC_ERROR : PYTHON_EXEC_ERROR}: ${reply.error.slice(0, 1100)}`);
  }
  if (typeof reply.value !== "string") fail("execution failed: the function returned no result");
  const size = Buffer.byteLength(reply.value as string);
  if (size > request.limits.maxReturnBytes) throw new TaskFailure("return value limit exceeded");
  // task.py refuses a longer result; a payload that wrote its reply itself meets the same cap.
  if (size > MAX_RESULT_BYTES) tooLong();
  return reply.value as string;
}

function parseChild(bytes: Buffer | undefined): { reply: ChildReply; blobs: Map<string, Buffer> } | null {
  if (!bytes || bytes.length < 8 || bytes.readUInt32BE(0) + 4 !== bytes.length) return null;
  try {
    const frames = decodeFrames(bytes, bytes.length);
    const frame = frames.length === 1 ? frames[0] : undefined;
    if (frame?.header.t !== "result") return null;
    const reply = frame.header.data;
    if (typeof reply !== "object" || reply === null) return null;
    return { reply: reply as ChildReply, blobs: frame.blobs };
  } catch {
    return null;
  }
}
