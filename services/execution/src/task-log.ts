// Relays a running task's log lines from its executor to the scheduler (which keeps them with the
// task), so participants can follow the log while the task runs. Bounded per task in bytes
// (TASK_LOG_MAX_BYTES, then one truncation marker) and in rate (one append in flight per task, at
// most one every `flushMs`); fenced by the task's lease generation like every other report.
import type { Logger } from "@cloister/core";
import { TASK_LOG_MAX_BYTES } from "@cloister/model";

/** Sends one batch; rejects with code 9 when the lease is no longer the caller's. */
export type AppendLog = (
  uuid: string,
  generation: number,
  lines: string[],
  truncated: boolean,
) => Promise<void>;

export interface TaskLogRelayOptions {
  /** Least time between two appends of one task (default 250 ms). */
  flushMs?: number;
  /** Longest single line kept, in bytes; a longer one is cut (default 16 KiB). */
  maxLineBytes?: number;
  /** Bytes of one append (default 64 KiB). */
  maxBatchBytes?: number;
  /** Bytes relayed per task before the log is cut (default TASK_LOG_MAX_BYTES). */
  maxTaskBytes?: number;
  /** Failed appends in a row after which the task's log is given up (default 5). */
  maxFailures?: number;
}

const utf8 = (s: string) => Buffer.byteLength(s, "utf8");

/** Leases remembered at once (a node runs a few tasks at a time; this bounds what refusals leave). */
const MAX_LEASES = 1024;

const CUT_MARK = " […]";

function cut(line: string, maxBytes: number): string {
  if (utf8(line) <= maxBytes) return line;
  // Cut on a character boundary, then mark it.
  const b = Buffer.from(line, "utf8").subarray(0, Math.max(0, maxBytes - utf8(CUT_MARK)));
  return `${b.toString("utf8").replace(/\uFFFD$/, "")}${CUT_MARK}`;
}

class TaskLogStream {
  private readonly buffer: string[] = [];
  private relayed = 0;
  private truncated = false;
  private truncationSent = false;
  private stopped = false;
  private failures = 0;
  private timer: NodeJS.Timeout | undefined;
  private sending: Promise<void> | undefined;

  constructor(
    private readonly uuid: string,
    private readonly generation: number,
    private readonly send: AppendLog,
    private readonly o: Required<TaskLogRelayOptions>,
    private readonly log: Logger,
  ) {}

  push(line: string): void {
    if (this.stopped || this.truncated) return;
    const kept = cut(line, this.o.maxLineBytes);
    const size = utf8(kept);
    if (this.relayed + size > this.o.maxTaskBytes) this.truncated = true;
    else {
      this.buffer.push(kept);
      this.relayed += size;
    }
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      void this.flush();
    }, this.o.flushMs);
  }

  /** Sends what is buffered, one batch at a time. */
  private flush(): Promise<void> {
    this.sending ??= (async () => {
      try {
        while (!this.stopped && (this.buffer.length > 0 || (this.truncated && !this.truncationSent))) {
          let bytes = 0;
          let n = 0;
          while (
            n < this.buffer.length &&
            (n === 0 || bytes + utf8(this.buffer[n]!) <= this.o.maxBatchBytes)
          ) {
            bytes += utf8(this.buffer[n]!);
            n++;
          }
          const batch = this.buffer.slice(0, n);
          const last = n === this.buffer.length && this.truncated;
          try {
            await this.send(this.uuid, this.generation, batch, last);
            this.buffer.splice(0, n);
            if (last) this.truncationSent = true;
            this.failures = 0;
          } catch (e) {
            const code = (e as { code?: number }).code;
            if (code === 9 || ++this.failures >= this.o.maxFailures) {
              // The lease is gone (the task may run elsewhere now) or the scheduler keeps refusing.
              this.log.warn(
                { err: e, task: this.uuid, generation: this.generation },
                "task log relay stopped",
              );
              this.stopped = true;
              this.buffer.length = 0;
              return;
            }
            await new Promise((r) => setTimeout(r, this.o.flushMs * 2 ** this.failures));
          }
        }
      } finally {
        this.sending = undefined;
      }
    })();
    return this.sending;
  }

  /** Flushes everything left (the task's run is over). */
  async close(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    while (this.sending) await this.sending;
    await this.flush();
  }
}

/** Per-node relay: knows each running task's lease generation and its open log stream. */
export class TaskLogRelay {
  private readonly generations = new Map<string, number>();
  private readonly streams = new Map<string, TaskLogStream>();
  private readonly o: Required<TaskLogRelayOptions>;

  constructor(
    private readonly send: AppendLog,
    private readonly log: Logger,
    options: TaskLogRelayOptions = {},
  ) {
    this.o = {
      flushMs: options.flushMs ?? 250,
      maxLineBytes: options.maxLineBytes ?? 16 * 1024,
      maxBatchBytes: options.maxBatchBytes ?? 64 * 1024,
      maxTaskBytes: options.maxTaskBytes ?? TASK_LOG_MAX_BYTES,
      maxFailures: options.maxFailures ?? 5,
    };
  }

  /** The node now runs `uuid` under `generation` (it was reported Running). */
  leased(uuid: string, generation: number): void {
    const key = uuid.toLowerCase();
    this.generations.delete(key);
    this.generations.set(key, generation);
    // A task refused before it ran is never finished here: keep only the most recent leases.
    for (const old of this.generations.keys()) {
      if (this.generations.size <= MAX_LEASES) break;
      if (!this.streams.has(old)) this.generations.delete(old);
      else break;
    }
  }

  /** A line sink for the task's run, or undefined when the task is not leased here. */
  open(uuid: string): ((line: string) => void) | undefined {
    const key = uuid.toLowerCase();
    const generation = this.generations.get(key);
    if (generation === undefined) return undefined;
    let stream = this.streams.get(key);
    if (!stream) {
      stream = new TaskLogStream(key, generation, this.send, this.o, this.log);
      this.streams.set(key, stream);
    }
    const s = stream;
    return (line) => s.push(line);
  }

  /** Flushes the task's log (before its result is reported) and forgets the task. */
  async finish(uuid: string): Promise<void> {
    const key = uuid.toLowerCase();
    const stream = this.streams.get(key);
    this.streams.delete(key);
    this.generations.delete(key);
    await stream?.close();
  }
}
