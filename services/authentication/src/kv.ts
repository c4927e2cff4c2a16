/** The slice of `@cloister/storage`'s KvStore this service needs (its own private database). */
export interface Kv {
  get(key: Buffer): Promise<Buffer | undefined>;
  put(key: Buffer, value: Buffer): Promise<void>;
  delete(key: Buffer): Promise<void>;
  keysByPrefix(prefix: Buffer): Promise<Buffer[]>;
}
