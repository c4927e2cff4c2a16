// A running task's own log (its function's stdout, stderr and console lines), kept with the task
// in storage — sealed at rest like every record there — for its participants to read through
// management. Only the node holding the task's lease may append, and what is kept is bounded.
import { cloisterError } from "@cloister/core";
import { appendLines, emptyTaskLog, TaskId, taskLogRecords } from "@cloister/model";
import type { RecordStore } from "@cloister/storage";

/** Lines and bytes one append may carry (a node sends small batches; anything bigger is refused). */
export const APPEND_MAX_LINES = 4096;
export const APPEND_MAX_BYTES = 256 * 1024;

/**
 * Appends for execution nodes. `holdsLease` is the scheduler's fence: a node whose lease was
 * taken away is refused with 9, so a presumed-dead node cannot write into a re-run's log.
 */
export class TaskLogWriter {
  private readonly locks = new Map<string, Promise<unknown>>();

  constructor(
    private readonly records: Pick<RecordStore, "get" | "put">,
    private readonly holdsLease: (uuid: string, generation: number) => boolean,
  ) {}

  async append(
    uuid: string,
    generation: number,
    lines: readonly string[],
    truncated: boolean,
  ): Promise<void> {
    const size = lines.reduce((n, l) => n + Buffer.byteLength(l, "utf8"), 0);
    if (lines.length > APPEND_MAX_LINES || size > APPEND_MAX_BYTES)
      throw cloisterError("TASK_LOG_BATCH_TOO_LARGE");
    await this.serialised(uuid, async () => {
      if (!this.holdsLease(uuid, generation)) throw cloisterError("LEASE_NOT_HELD");
      const id = TaskId.fromUuid(uuid);
      const current = (await this.records.get(taskLogRecords, id)) ?? emptyTaskLog();
      const next = appendLines(current, lines, truncated);
      if (next !== current) await this.records.put(taskLogRecords, id, next);
    });
  }

  private async serialised<T>(uuid: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.locks.get(uuid) ?? Promise.resolve();
    const run = prev.then(fn, fn);
    const tail = run.catch(() => undefined);
    this.locks.set(uuid, tail);
    try {
      return await run;
    } finally {
      if (this.locks.get(uuid) === tail) this.locks.delete(uuid);
    }
  }
}
