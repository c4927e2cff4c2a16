// A task's own log as kept in storage (Cloister extension, JSON under `taskLogRecords`): written
// by the scheduler for the node holding the task's lease, read by management for participants.
import { TASK_LOG_MAX_BYTES, TASK_LOG_TRUNCATED } from "./ids.js";
import { RecordFormatError } from "./read.js";
import { plainJsonCodec, type RecordCodec } from "./records/codec.js";

/** What is stored under `taskLogRecords.key(id)` (JSON). */
export interface TaskLogRecord {
  lines: string[];
  /** UTF-8 bytes of `lines`, the marker excluded. */
  bytes: number;
  /** The bound was reached: the last line is TASK_LOG_TRUNCATED and nothing follows. */
  truncated: boolean;
}

/** The stored JSON (plain, no codec version: its format predates the versioned records). */
export const taskLogCodec: RecordCodec<TaskLogRecord> = plainJsonCodec("task log", (parsed) => {
  const o = parsed as Partial<TaskLogRecord> | null;
  if (!Array.isArray(o?.lines) || !o.lines.every((l) => typeof l === "string"))
    throw new RecordFormatError("task log: lines must be strings");
  return { lines: o.lines, bytes: Number(o.bytes) || 0, truncated: o.truncated === true };
});

/** The log of a task that has logged nothing yet. */
export const emptyTaskLog = (): TaskLogRecord => ({ lines: [], bytes: 0, truncated: false });

/** The stored log, the empty one when there is none. */
export function parseTaskLog(raw: Buffer | undefined): TaskLogRecord {
  return raw ? taskLogCodec.decode(raw) : emptyTaskLog();
}

/** `record` with `lines` appended within TASK_LOG_MAX_BYTES; past it, the marker once and nothing more. */
export function appendLines(
  record: TaskLogRecord,
  lines: readonly string[],
  truncated: boolean,
): TaskLogRecord {
  if (record.truncated) return record;
  const next: TaskLogRecord = { lines: [...record.lines], bytes: record.bytes, truncated: false };
  for (const line of lines) {
    const size = Buffer.byteLength(line, "utf8");
    if (next.bytes + size > TASK_LOG_MAX_BYTES) {
      truncated = true;
      break;
    }
    next.lines.push(line);
    next.bytes += size;
  }
  if (truncated) {
    next.lines.push(TASK_LOG_TRUNCATED);
    next.truncated = true;
  }
  return next;
}
