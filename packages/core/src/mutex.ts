/**
 * The one lock helper of the platform: critical sections with the same key run one at a time,
 * in call order; different keys do not wait for each other. Read-modify-write of one record
 * (two approvals at once, two list appends) and a backend's single-writer queue steps use it.
 * A section that fails releases the key like one that succeeds.
 */
export class KeyedMutex<K = string> {
  private readonly tails = new Map<K, Promise<void>>();

  async run<T>(key: K, fn: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(key);
    let release!: () => void;
    const mine = new Promise<void>((r) => {
      release = r;
    });
    const tail = previous ? previous.then(() => mine) : mine;
    this.tails.set(key, tail);
    if (previous) await previous;
    try {
      return await fn();
    } finally {
      release();
      if (this.tails.get(key) === tail) this.tails.delete(key);
    }
  }

  /**
   * The key's lock at once when no section holds or waits for it, else undefined: for a caller
   * that must not wait (it holds another lock that a holder of this one may be waiting for).
   * Sections that run later wait until the returned release is called.
   */
  tryAcquire(key: K): (() => void) | undefined {
    if (this.tails.has(key)) return undefined;
    let release!: () => void;
    const mine = new Promise<void>((r) => {
      release = r;
    });
    this.tails.set(key, mine);
    let done = false;
    return () => {
      if (done) return;
      done = true;
      release();
      if (this.tails.get(key) === mine) this.tails.delete(key);
    };
  }

  /** Keys with a section running or waiting (for tests and status). */
  get size(): number {
    return this.tails.size;
  }
}
