// GetTask that waits: Teaclave clients learn that a task ended only by polling GetTask (the
// Python SDK sleeps a second between polls), so a task that ends a millisecond after a poll would
// cost its client a second. While a task is Staged or Running, the frontend holds the answer until
// the task ends or the wait runs out, and then answers with the view of that moment. The wire is
// untouched: the answer is an ordinary GetTaskResponse, only later.
import { common, type extensions, type frontend } from "@cloister/proto";
import { GET_TASK_WAIT_METADATA, metadataValue } from "@cloister/rpc";
import type * as grpc from "@grpc/grpc-js";

type View = frontend.GetTaskResponse;

const IN_FLIGHT: ReadonlySet<number> = new Set([common.TaskStatus.Staged, common.TaskStatus.Running]);
const ENDED: ReadonlySet<number> = new Set([
  common.TaskStatus.Finished,
  common.TaskStatus.Failed,
  common.TaskStatus.Canceled,
]);
/** Kept free before the call's own deadline, so a held answer still reaches the client in time. */
const DEADLINE_MARGIN_MS = 100;
const DIGITS = /^[0-9]{1,9}$/;

/**
 * How long this call may wait: the configured wait, lowered (never raised) by the client's
 * `cloister-get-task-wait-ms` metadata, and ending DEADLINE_MARGIN_MS before the call's deadline.
 * A value that is not a plain decimal number is ignored (the configured wait applies).
 */
export function waitBudgetMs(metadata: grpc.Metadata, configuredMs: number, deadlineMs?: number): number {
  let budget = configuredMs;
  const asked = metadataValue(metadata, GET_TASK_WAIT_METADATA);
  if (asked !== undefined && DIGITS.test(asked)) budget = Math.min(budget, Number(asked));
  if (deadlineMs !== undefined) budget = Math.min(budget, deadlineMs - DEADLINE_MARGIN_MS);
  return Math.max(0, budget);
}

/** Waits one user may hold at once; past it GetTask answers at once, as without a wait. */
export class WaitSlots {
  private readonly held = new Map<string, number>();
  constructor(private readonly perUser = 64) {}

  /** A release function, or undefined when the user already holds `perUser` waits. */
  tryTake(user: string): (() => void) | undefined {
    const n = this.held.get(user) ?? 0;
    if (n >= this.perUser) return undefined;
    this.held.set(user, n + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.held.get(user) ?? 1) - 1;
      if (left <= 0) this.held.delete(user);
      else this.held.set(user, left);
    };
  }
}

export interface HeldViewOptions {
  /** The view GetTask read first. */
  first: View;
  /** How long to wait at most (waitBudgetMs). */
  waitMs: number;
  /** Management's WatchTask for this task and caller, cancelled through `signal`. */
  watch: (signal: AbortSignal) => AsyncIterable<extensions.WatchTaskResponse>;
  /** The client went away. */
  signal?: AbortSignal;
}

/**
 * The answer to a GetTask: `first` when the task is not in flight or there is no time to wait;
 * else the first ended view WatchTask brings within `waitMs`, or the latest view seen when the
 * wait runs out. The watch failing is not the call's failure: GetTask already succeeded, so the
 * latest view seen is the answer.
 */
export async function heldView(o: HeldViewOptions): Promise<View> {
  if (!IN_FLIGHT.has(o.first.status) || o.waitMs <= 0 || o.signal?.aborted) return o.first;
  const stop = new AbortController();
  const timer = setTimeout(() => stop.abort(), o.waitMs);
  const onClientGone = () => stop.abort();
  o.signal?.addEventListener("abort", onClientGone, { once: true });
  let latest = o.first;
  try {
    // Read to the stream's end, which management sends right after the ended view: cancelling
    // there instead would have its closing frames arrive on a reset stream, and an HTTP/2 peer
    // closes a connection that receives too many of those.
    for await (const message of o.watch(stop.signal)) {
      if (message.task && !ENDED.has(latest.status)) latest = message.task;
    }
  } catch {
    // Cancelled by the timer or the client, or the watch failed: answer with what we have.
  } finally {
    clearTimeout(timer);
    o.signal?.removeEventListener("abort", onClientGone);
    stop.abort();
  }
  return latest;
}
