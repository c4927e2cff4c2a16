/**
 * The storage operations management needs. `@cloister/storage`'s KvStore has this shape;
 * `keysByPrefix` returns every key that starts with the given bytes, in ascending byte order.
 */
export interface ManagementStore {
  get(key: Buffer): Promise<Buffer | undefined>;
  put(key: Buffer, value: Buffer): Promise<void>;
  delete(key: Buffer): Promise<void>;
  keysByPrefix(prefix: Buffer): Promise<Buffer[]>;
  enqueue(queue: Buffer, value: Buffer): Promise<void>;
  /** Append to the queue and apply the puts in one atomic step. */
  enqueueWith(
    queue: Buffer,
    value: Buffer,
    ops: Array<{ type: "put"; key: Buffer; value: Buffer }>,
  ): Promise<void>;
  /** Several puts applied atomically (all or none). */
  batch(ops: Array<{ type: "put"; key: Buffer; value: Buffer }>): Promise<void>;
}

/**
 * One async lock per key: read-modify-write sequences on the same record run one after another,
 * so concurrent updates (two approvals, two list appends) cannot overwrite each other.
 */
export class KeyedMutex {
  private readonly tails = new Map<string, Promise<void>>();

  async run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((r) => {
      release = r;
    });
    const tail = previous.then(() => mine);
    this.tails.set(key, tail);
    await previous;
    try {
      return await fn();
    } finally {
      release();
      if (this.tails.get(key) === tail) this.tails.delete(key);
    }
  }
}
