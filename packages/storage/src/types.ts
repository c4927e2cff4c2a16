import type { Subscription } from "./wait.js";

/** One write of an atomic batch. */
export type BatchOp = { type: "put"; key: Buffer; value: Buffer } | { type: "del"; key: Buffer };

/**
 * The state layer contract shared by every backend and by the sealing wrapper.
 *
 * Keys and values are raw bytes. Queues are FIFOs named by bytes; they live in the same
 * key space as ordinary keys (legacy layout), so ordinary keys must not
 * start with `queue-`.
 */
export interface KvStore {
  /** The value stored under `key`, or undefined when there is none. */
  get(key: Buffer): Promise<Buffer | undefined>;
  /** Upsert; an empty value is allowed. */
  put(key: Buffer, value: Buffer): Promise<void>;
  /** Remove `key`; removing a missing key is not an error. */
  delete(key: Buffer): Promise<void>;
  /** Every key that starts with `prefix`, in ascending byte order (empty prefix: all keys). */
  keysByPrefix(prefix: Buffer): Promise<Buffer[]>;
  /** Apply all operations or none. When a key occurs more than once, the last operation wins. */
  batch(ops: BatchOp[]): Promise<void>;
  /** Append `value` to the FIFO `queue`. */
  enqueue(queue: Buffer, value: Buffer): Promise<void>;
  /** Remove and return the oldest element, or undefined when the queue is empty. */
  dequeue(queue: Buffer): Promise<Buffer | undefined>;
  /**
   * Like dequeue, but when the queue is empty wait (without polling) until an element arrives
   * or `timeoutMs` elapses (then undefined). Rejects with the signal's reason when `signal`
   * aborts and with StorageClosedError when the store is closed meanwhile.
   */
  dequeueWait(queue: Buffer, timeoutMs: number, signal?: AbortSignal): Promise<Buffer | undefined>;
  /**
   * Append `value` to `queue` and apply `ops` in one atomic step (both or neither), so a record
   * and the queue element that announces it can never disagree after a crash.
   */
  enqueueWith(queue: Buffer, value: Buffer, ops: BatchOp[]): Promise<void>;
  /**
   * Like dequeueWait, but the element is also stored under `key` in the same atomic step: at
   * every instant it is in the queue or under `key`, never in neither (a lease that a crash
   * cannot lose). Resolves with the element; `key` keeps it until the caller removes it.
   */
  dequeueInto(
    queue: Buffer,
    key: Buffer,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<Buffer | undefined>;
  /** Release the backend; pending dequeueWait calls reject. Idempotent. */
  close(): Promise<void>;
}

/** A dequeued element together with the slot index it occupied in its queue. */
export interface QueueEntry {
  index: number;
  value: Buffer;
}

/**
 * Optional backend capability: queue operations that expose the element's slot index, so a
 * wrapper can bind each element to its position (SealedStore puts it into the AAD). `encode`
 * may be called more than once when a backend retries an optimistic transaction.
 */
export interface IndexedQueues {
  /** `ops` are applied in the same atomic step as the append. */
  enqueueIndexed(queue: Buffer, encode: (index: number) => Buffer, ops?: BatchOp[]): Promise<void>;
  dequeueIndexed(queue: Buffer, into?: QueueMove): Promise<QueueEntry | undefined>;
  dequeueIndexedWait(
    queue: Buffer,
    timeoutMs: number,
    signal?: AbortSignal,
    into?: QueueMove,
  ): Promise<QueueEntry | undefined>;
}

/**
 * Store the dequeued element under `key` in the same atomic step, as `encode` returns it (a
 * wrapper re-seals it there). When `encode` throws, the element is dropped from the queue
 * (it could never be delivered) and the error reaches the caller.
 */
export interface QueueMove {
  key: Buffer;
  encode(entry: QueueEntry): Buffer;
  /**
   * More writes for the same atomic step, computed from the element while the backend holds its
   * queue step (so it must not wait for anything that waits for a queue step). Backends that
   * support it (LevelDB) call it at most once; others never call it, and then nothing but the
   * move is written. When it fails the move is written alone and the error reaches the caller.
   */
  with?(entry: QueueEntry): Promise<BatchOp[]>;
}

/**
 * Optional capability: dequeueInto whose atomic step also applies writes computed from the
 * element (the scheduler records a claimed task's lease with its claim). `withOps` gets the
 * element as dequeueInto returns it; it is called at most once and not at all where the backend
 * cannot add writes to the move — then only the move is written, and the caller writes the rest.
 */
export interface MoveWithOps {
  dequeueIntoWith(
    queue: Buffer,
    key: Buffer,
    timeoutMs: number,
    signal: AbortSignal | undefined,
    withOps: (element: Buffer) => Promise<BatchOp[]>,
  ): Promise<Buffer | undefined>;
}

export const hasMoveWithOps = (store: object): store is MoveWithOps =>
  typeof (store as Partial<MoveWithOps>).dequeueIntoWith === "function";

export const hasIndexedQueues = (store: KvStore): store is KvStore & IndexedQueues => {
  const s = store as Partial<IndexedQueues>;
  return (
    typeof s.enqueueIndexed === "function" &&
    typeof s.dequeueIndexed === "function" &&
    typeof s.dequeueIndexedWait === "function"
  );
};

/**
 * Optional backend capability: a subscription woken whenever the value under `key` may have
 * changed (a put, delete or batch touching it, or a queue element moved into it). A wake-up is
 * a hint to read again, never a value: spurious ones are allowed, missed ones are not.
 */
export interface KeyWatches {
  watchKey(key: Buffer): Subscription;
}

export const hasKeyWatches = (store: KvStore): store is KvStore & KeyWatches =>
  typeof (store as Partial<KeyWatches>).watchKey === "function";
