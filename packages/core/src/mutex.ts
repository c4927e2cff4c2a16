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

  /** Keys with a section running or waiting (for tests and status). */
  get size(): number {
    return this.tails.size;
  }
}
