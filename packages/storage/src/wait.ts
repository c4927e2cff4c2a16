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
  close(): void | Promise<void>;
}

/**
 * Try `attempt`; while it finds nothing, sleep until the subscription reports a change, the
 * timeout elapses (→ undefined) or a signal aborts (→ rejects with its reason). The
 * subscription is opened before the first attempt so no change can slip in between.
 */
export async function waitFor<T>(
  attempt: () => Promise<T | undefined>,
  subscribe: () => Promise<Subscription>,
  timeoutMs: number,
  signals: Array<AbortSignal | undefined>,
): Promise<T | undefined> {
  const active = signals.filter((s): s is AbortSignal => s !== undefined);
  for (const s of active) s.throwIfAborted();
  const sub = await subscribe();
  let timer: NodeJS.Timeout | undefined;
  const cleanups: Array<() => void> = [];
  try {
    const first = await attempt();
    if (first !== undefined || timeoutMs === 0) return first;
    const stop = new Promise<"timeout">((resolve, reject) => {
      timer = setTimeout(() => resolve("timeout"), timeoutMs);
      for (const s of active) {
        const onAbort = () => reject(s.reason);
        if (s.aborted) onAbort();
        s.addEventListener("abort", onAbort, { once: true });
        cleanups.push(() => s.removeEventListener("abort", onAbort));
      }
    });
    for (;;) {
      const why = await Promise.race([sub.wakeup.next().then(() => "wake" as const), stop]);
      if (why === "timeout") return undefined;
      const v = await attempt();
      if (v !== undefined) return v;
    }
  } finally {
    if (timer) clearTimeout(timer);
    for (const c of cleanups) c();
    await sub.close();
  }
}
