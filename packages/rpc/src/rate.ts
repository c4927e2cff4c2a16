/**
 * Token buckets by key (a peer address, a user id): `take(key)` is true while the key has
 * budget. The table is bounded: when full, buckets that have refilled completely (idle keys)
 * are dropped, and if none has, the oldest is, so a flood of distinct keys costs bounded memory
 * (an evicted key simply starts again with a full bucket).
 */
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    /** Sustained rate, per second. */
    private readonly perSecond: number,
    /** Largest burst. */
    private readonly burst: number,
    private readonly maxKeys = 10_000,
    private readonly now: () => number = Date.now,
  ) {}

  take(key: string, cost = 1): boolean {
    const t = this.now();
    let b = this.buckets.get(key);
    if (!b) {
      if (this.buckets.size >= this.maxKeys) this.evict(t);
      b = { tokens: this.burst, at: t };
      this.buckets.set(key, b);
    } else {
      b.tokens = Math.min(this.burst, b.tokens + ((t - b.at) / 1000) * this.perSecond);
      b.at = t;
    }
    if (b.tokens < cost) return false;
    b.tokens -= cost;
    return true;
  }

  private evict(t: number): void {
    for (const [k, b] of this.buckets) {
      if (b.tokens + ((t - b.at) / 1000) * this.perSecond >= this.burst) this.buckets.delete(k);
    }
    if (this.buckets.size >= this.maxKeys) {
      const oldest = this.buckets.keys().next();
      if (!oldest.done) this.buckets.delete(oldest.value);
    }
  }
}

/** Runs async jobs at most `concurrency` at a time, with at most `maxQueued` waiting. */
export class WorkQueue {
  private running = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(
    private readonly concurrency: number,
    private readonly maxQueued: number,
  ) {}

  /** The job's result; rejects with `QueueFullError` at once when the queue is full. */
  async run<T>(job: () => Promise<T>): Promise<T> {
    if (this.running >= this.concurrency) {
      if (this.waiting.length >= this.maxQueued) throw new QueueFullError();
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    } else {
      this.running++;
    }
    try {
      return await job();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.running--;
    }
  }

  get pending(): number {
    return this.waiting.length;
  }
}

export class QueueFullError extends Error {
  constructor() {
    super("work queue full");
    this.name = "QueueFullError";
  }
}

/** A value for a log line: at most `max` characters, with its full length when cut. */
export function forLog(value: string, max = 128): string {
  return value.length <= max ? value : `${value.slice(0, max)}…(${value.length} chars)`;
}
