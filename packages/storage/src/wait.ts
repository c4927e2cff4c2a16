/**
 * A level-triggered wake-up flag: `notify` before `next` is not lost, so a waiter that
 * subscribes, then checks its condition, then awaits `next` cannot miss a change.
 */
export class Wakeup {
  private pending = false;
  private waiter: (() => void) | undefined;

  notify(): void {
    this.pending = true;
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }

  next(): Promise<void> {
    if (this.pending) {
      this.pending = false;
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => {
      this.waiter = () => {
        this.pending = false;
        resolve();
      };
    });
  }
}

export interface Subscription {
  wakeup: Wakeup;
  /**
   * Settles once changes are being reported (a remote watch may take a round trip); `READY` for
   * a subscription that reports from the start (then nothing waits for it).
   */
  ready: Promise<void>;
  /** Stop reporting; must also work while still getting ready. */
  close(): void | Promise<void>;
}

const ignore = () => {};

/** The `ready` of a subscription that reports changes from the moment it exists (in-process). */
export const READY: Promise<void> = Promise.resolve();

/**
 * Try `attempt`; while it finds nothing, sleep until the subscription reports a change, the
 * timeout elapses (→ undefined) or a signal aborts (→ rejects with its reason). The
 * subscription is opened before the first attempt so no change can slip in between, and the
 * timeout covers getting it ready too (a watch on an unreachable server must not outlive it).
 */
export async function waitFor<T>(
  attempt: () => Promise<T | undefined>,
  subscribe: () => Subscription,
  timeoutMs: number,
  signals: Array<AbortSignal | undefined>,
): Promise<T | undefined> {
  const active = signals.filter((s): s is AbortSignal => s !== undefined);
  for (const s of active) s.throwIfAborted();
  if (timeoutMs === 0) return attempt();

  let timer: NodeJS.Timeout | undefined;
  const cleanups: Array<() => void> = [];
  const stop = new Promise<"timeout">((resolve, reject) => {
    timer = setTimeout(() => resolve("timeout"), timeoutMs);
    for (const s of active) {
      const onAbort = () => reject(s.reason);
      s.addEventListener("abort", onAbort, { once: true });
      cleanups.push(() => s.removeEventListener("abort", onAbort));
    }
  });
  // Handled from the start: an abort while an attempt runs is seen at the next race.
  stop.catch(ignore);
  const sub = subscribe();
  try {
    // Never ready (e.g. the server is unreachable): one plain attempt, so a failure is
    // reported rather than looking like an empty queue.
    if (
      sub.ready !== READY &&
      (await Promise.race([sub.ready.then(() => "ready" as const), stop])) === "timeout"
    )
      return await attempt();
    for (;;) {
      const v = await attempt();
      if (v !== undefined) return v;
      const why = await Promise.race([sub.wakeup.next().then(() => "wake" as const), stop]);
      if (why === "timeout") return undefined;
    }
  } finally {
    if (timer) clearTimeout(timer);
    for (const c of cleanups) c();
    await sub.close();
  }
}
