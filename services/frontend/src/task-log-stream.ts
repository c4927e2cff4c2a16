// StreamTaskLog: a task's own log, read from management from an offset and written to the
// client as it grows. Each read is authorised again by management (participants only), and with
// `follow` the stream ends once the task is terminal and every line written before that was sent
// (the execution node flushes a task's log before it reports the result).
import { cloisterError } from "@cloister/core";
import { common, type extensions } from "@cloister/proto";
import { UserSlots } from "./user-slots.js";

type Read = (offset: number) => Promise<extensions.ReadTaskLogResponse>;

const TERMINAL = new Set([common.TaskStatus.Finished, common.TaskStatus.Canceled, common.TaskStatus.Failed]);

export interface StreamOptions {
  follow: boolean;
  /** Pause between reads that brought nothing new (default 300 ms). */
  pollMs?: number;
  /** Longest a followed stream stays open (default 6 h); the client may reconnect. */
  maxFollowMs?: number;
}

/**
 * One task's log as chunks: what is there now, and with `follow` what comes until the task is
 * terminal. Ends early when `signal` aborts (the client went away).
 */
export async function* taskLogChunks(
  read: Read,
  o: StreamOptions,
  signal?: AbortSignal,
): AsyncGenerator<extensions.TaskLogChunk, void, undefined> {
  const pollMs = o.pollMs ?? 300;
  const until = Date.now() + (o.maxFollowMs ?? 6 * 3600_000);
  let offset = 0;
  let first = true;
  for (;;) {
    if (signal?.aborted) return;
    const r = await read(offset);
    const terminalBefore = TERMINAL.has(r.status);
    if (first || r.lines.length > 0 || r.truncated) {
      yield { lines: r.lines, truncated: r.truncated, kept: r.kept, status: r.status };
      first = false;
    }
    offset = r.nextOffset;
    if (!r.kept || r.truncated) return;
    if (r.lines.length > 0) continue; // more may be waiting: read again at once
    // Nothing new. Without follow, or once the task was terminal when this read was made, done.
    if (!o.follow || terminalBefore) return;
    if (Date.now() >= until) throw cloisterError("TASK_LOG_FOLLOW_LIMIT");
    await new Promise<void>((res) => {
      const t = setTimeout(res, pollMs);
      signal?.addEventListener(
        "abort",
        () => {
          clearTimeout(t);
          res();
        },
        { once: true },
      );
    });
  }
}

/** Followed streams one user may hold open at once. */
export class StreamSlots {
  private readonly slots: UserSlots;
  constructor(perUser = 8) {
    this.slots = new UserSlots(perUser);
  }

  take(user: string): () => void {
    const release = this.slots.tryTake(user);
    if (!release) throw cloisterError("TASK_LOG_STREAMS_EXHAUSTED");
    return release;
  }
}
