// A task's own log as kept in storage (Cloister extension, JSON under `taskLogRecords`): written
// by the scheduler for the node holding the task's lease, read by management for participants.
import { cloisterError } from "@cloister/core";
import { TASK_LOG_MAX_BYTES, TASK_LOG_TRUNCATED } from "./ids.js";

/** What is stored under `taskLogRecords.key(id)` (JSON). */
export interface TaskLogRecord {
  lines: string[];
  /** UTF-8 bytes of `lines`, the marker excluded. */
  bytes: number;
  /** The bound was reached: the last line is TASK_LOG_TRUNCATED and nothing follows. */
  truncated: boolean;
}

export function parseTaskLog(raw: Buffer | undefined): TaskLogRecord {
  if (!raw) return { lines: [], bytes: 0, truncated: false };
  const o = JSON.parse(raw.toString("utf8")) as Partial<TaskLogRecord>;
  if (!Array.isArray(o.lines) || !o.lines.every((l) => typeof l === "string"))
    throw cloisterError("INTERNAL");
  return { lines: o.lines, bytes: Number(o.bytes) || 0, truncated: o.truncated === true };
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
