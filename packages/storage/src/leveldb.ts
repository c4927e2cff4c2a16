import { KeyedMutex } from "@cloister/core";
import { ClassicLevel } from "classic-level";
import { bytes, prefixEnd, validateBatch, validateTimeout } from "./bytes.js";
import { StorageClosedError, StorageError, StorageIntegrityError } from "./errors.js";
import { decodeCounter, encodeCounter, nextSlot, queueFull, queueKeys } from "./queue-layout.js";
import { ReadCache } from "./read-cache.js";
import type {
  BatchOp,
  IndexedQueues,
  KeyWatches,
  KvStore,
  MoveWithOps,
  QueueEntry,
  QueueMove,
} from "./types.js";
import { READY, type Subscription, Wakeup, waitFor } from "./wait.js";

export interface LevelDbOptions {
  /**
   * fsync every write before acknowledging it. Off by default: an acknowledged write then
   * survives a crash of the process (it is in LevelDB's log) but not of the machine.
   */
  sync?: boolean;
}

type Db = ClassicLevel<Buffer, Buffer>;

/** A write waiting for the LevelDB batch it goes out in. */
interface PendingWrite {
  ops: BatchOp[];
  resolve(): void;
  reject(err: unknown): void;
}

/** A wakeup registered under `name` (a queue or a key) in this process; closed, it is forgotten. */
function subscribe(waiters: Map<string, Set<Wakeup>>, name: string): Subscription {
  const wakeup = new Wakeup();
  const set = waiters.get(name) ?? new Set<Wakeup>();
  waiters.set(name, set);
  set.add(wakeup);
  return {
    wakeup,
    ready: READY,
    close: () => {
      set.delete(wakeup);
      if (set.size === 0 && waiters.get(name) === set) waiters.delete(name);
    },
  };
}

/**
 * The embedded backend: one LevelDB directory, owned by one process (LevelDB locks it), so
 * queue waiters are woken in-process.
 */
export class LevelDbStore implements KvStore, IndexedQueues, KeyWatches, MoveWithOps {
  // LevelDB has one writer per process; queue steps (read counters, write batch) go one at a time.
  private readonly queueLock = new KeyedMutex<"queues">();
  private readonly waiters = new Map<string, Set<Wakeup>>();
  /** Watchers of single keys (watchKey), by key in latin1. */
  private readonly keyWaiters = new Map<string, Set<Wakeup>>();
  /** Reads served from memory: this process is the database's only user (LevelDB's lock). */
  private readonly cache = new ReadCache();
  private readonly closing = new AbortController();
  private readonly write: { sync: boolean };

  private constructor(
    private readonly db: Db,
    options: LevelDbOptions,
  ) {
    this.write = { sync: options.sync ?? false };
  }

  static async open(path: string, options: LevelDbOptions = {}): Promise<LevelDbStore> {
    if (typeof path !== "string" || path === "")
      throw new StorageError("LevelDB path must be a non-empty string");
    const db: Db = new ClassicLevel<Buffer, Buffer>(path, { keyEncoding: "buffer", valueEncoding: "buffer" });
    try {
      await db.open({ createIfMissing: true });
    } catch (e) {
      const locked = (e as { cause?: { code?: string } }).cause?.code === "LEVEL_LOCKED";
      throw new StorageError(
        locked
          ? `LevelDB store at ${path} is in use by another process`
          : `cannot open LevelDB store at ${path}`,
        { cause: e },
      );
    }
    return new LevelDbStore(db, options);
  }

  async get(key: Buffer): Promise<Buffer | undefined> {
    const k = bytes("key", key);
    const cached = this.cache.lookup(k);
    if (cached !== undefined) {
      if (this.closing.signal.aborted) throw new StorageClosedError();
      return cached ?? undefined;
    }
    const epoch = this.cache.begin();
    const value = await this.guard(() => this.db.get(k));
    this.cache.fill(k, value, epoch);
    return value;
  }

  async put(key: Buffer, value: Buffer): Promise<void> {
    const k = bytes("key", key);
    const v = bytes("value", value);
    await this.guard(() => this.apply([{ type: "put", key: k, value: v }]));
  }

  async delete(key: Buffer): Promise<void> {
    const k = bytes("key", key);
    await this.guard(() => this.apply([{ type: "del", key: k }]));
  }

  /**
   * A read through the cache, inside a guard: the queue counters and elements are read at every
   * enqueue and dequeue, under the queue lock, and were all written by this store (so they are
   * usually cached and no LevelDB read is queued behind the lock).
   */
  private async read(k: Buffer): Promise<Buffer | undefined> {
    const cached = this.cache.lookup(k);
    if (cached !== undefined) return cached ?? undefined;
    const epoch = this.cache.begin();
    const value = await this.db.get(k);
    this.cache.fill(k, value, epoch);
    return value;
  }

  private async readMany(keys: Buffer[]): Promise<Array<Buffer | undefined>> {
    const found = keys.map((k) => this.cache.lookup(k));
    const missing = keys.filter((_, i) => found[i] === undefined);
    if (missing.length === 0) return found.map((v) => v ?? undefined);
    const epoch = this.cache.begin();
    const read = await this.db.getMany(missing);
    let j = 0;
    return found.map((v, i) => {
      if (v !== undefined) return v ?? undefined;
      const value = read[j++];
      this.cache.fill(keys[i]!, value, epoch);
      return value;
    });
  }

  /**
   * One atomic write (what every write of this store goes through): cache and watchers follow it.
   * Group commit: while a LevelDB write is in flight, the writes that arrive meanwhile wait and go
   * as one LevelDB batch next (in arrival order, so a later write of a key still wins). Each is
   * acknowledged only once that batch is written (with `sync`, fsynced), so nothing is
   * acknowledged earlier than before; what is saved is a thread-pool round trip per write.
   */
  private apply(ops: BatchOp[]): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.queued.push({ ops, resolve, reject });
      if (!this.committing) void this.commitQueued();
    });
  }

  private readonly queued: PendingWrite[] = [];
  private committing = false;

  private async commitQueued(): Promise<void> {
    this.committing = true;
    try {
      while (this.queued.length > 0) {
        const group = this.queued.splice(0, this.queued.length);
        if (group.length === 1 || !(await this.writeGroup(group))) {
          // Alone, or the group failed as a whole: each write on its own, so one write's failure
          // is never another's.
          for (const w of group) await this.writeGroup([w]);
        }
      }
    } finally {
      // Never left set: a write queued later would wait for ever.
      this.committing = false;
    }
  }

  /** Writes `group` in one LevelDB batch; false (nothing settled) when a group of several failed. */
  private async writeGroup(group: PendingWrite[]): Promise<boolean> {
    const ops = group.length === 1 ? group[0]!.ops : group.flatMap((w) => w.ops);
    try {
      await this.writeBatch(ops);
    } catch (e) {
      this.cache.forget(ops);
      if (group.length > 1) return false;
      group[0]!.reject(e);
      return true;
    }
    // Written: every write of the group is acknowledged whatever the bookkeeping below does.
    try {
      this.cache.wrote(ops);
      this.changed(ops);
    } catch {
      this.cache.forget(ops);
    }
    for (const w of group) w.resolve();
    return true;
  }

  /**
   * One atomic LevelDB write through a chained batch: each op goes to the native batch as two
   * arguments. The array form (`db.batch(ops)`) copies every op into a new object and the
   * binding then reads its fields back by name, which cost 3-4x the main-thread CPU per write
   * for our already-encoded Buffer ops.
   */
  private async writeBatch(ops: readonly BatchOp[]): Promise<void> {
    const batch = this.db.batch();
    try {
      for (const op of ops) {
        if (op.type === "put") batch.put(op.key, op.value);
        else batch.del(op.key);
      }
    } catch (e) {
      await batch.close();
      throw e;
    }
    await batch.write(this.write);
  }

  async keysByPrefix(prefix: Buffer): Promise<Buffer[]> {
    const p = bytes("prefix", prefix);
    const end = prefixEnd(p);
    return this.guard(async () => {
      const keys = await this.db.keys(end ? { gte: p, lt: end } : { gte: p }).all();
      // The range already bounds the scan; the check documents (and enforces) the contract.
      return keys.filter((k) => k.length >= p.length && k.subarray(0, p.length).equals(p));
    });
  }

  async batch(ops: BatchOp[]): Promise<void> {
    const valid = validateBatch(ops);
    await this.guard(() => this.apply(valid));
  }

  /** Wakes the watchers of the keys these writes touched (after they are applied). */
  private changed(ops: readonly BatchOp[]): void {
    if (this.keyWaiters.size === 0) return;
    for (const op of ops) for (const w of this.keyWaiters.get(op.key.toString("latin1")) ?? []) w.notify();
  }

  watchKey(key: Buffer): Subscription {
    return subscribe(this.keyWaiters, bytes("key", key).toString("latin1"));
  }

  async enqueue(queue: Buffer, value: Buffer): Promise<void> {
    const v = bytes("value", value);
    await this.enqueueIndexed(queue, () => v);
  }

  async dequeue(queue: Buffer): Promise<Buffer | undefined> {
    return (await this.dequeueIndexed(queue))?.value;
  }

  async dequeueWait(queue: Buffer, timeoutMs: number, signal?: AbortSignal): Promise<Buffer | undefined> {
    return (await this.dequeueIndexedWait(queue, timeoutMs, signal))?.value;
  }

  async enqueueWith(queue: Buffer, value: Buffer, ops: BatchOp[]): Promise<void> {
    const v = bytes("value", value);
    await this.enqueueIndexed(queue, () => v, ops);
  }

  async dequeueInto(
    queue: Buffer,
    key: Buffer,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<Buffer | undefined> {
    const k = bytes("key", key);
    return (await this.dequeueIndexedWait(queue, timeoutMs, signal, { key: k, encode: (e) => e.value }))
      ?.value;
  }

  async dequeueIntoWith(
    queue: Buffer,
    key: Buffer,
    timeoutMs: number,
    signal: AbortSignal | undefined,
    withOps: (element: Buffer) => Promise<BatchOp[]>,
  ): Promise<Buffer | undefined> {
    const k = bytes("key", key);
    const move: QueueMove = { key: k, encode: (e) => e.value, with: (e) => withOps(e.value) };
    return (await this.dequeueIndexedWait(queue, timeoutMs, signal, move))?.value;
  }

  async enqueueIndexed(queue: Buffer, encode: (index: number) => Buffer, ops: BatchOp[] = []): Promise<void> {
    const q = bytes("queue", queue);
    const keys = queueKeys(q);
    const extra = validateBatch(ops);
    return this.guard(async () => {
      await this.queueLock.run("queues", async () => {
        const [head, tail] = (await this.readMany([keys.head, keys.tail])).map(decodeCounter) as [
          number,
          number,
        ];
        const next = nextSlot(tail);
        if (next === head) throw queueFull();
        const element = bytes("encoded element", encode(tail));
        await this.apply([
          ...extra,
          { type: "put", key: keys.element(tail), value: element },
          { type: "put", key: keys.tail, value: encodeCounter(next) },
        ]);
      });
      for (const w of this.waiters.get(q.toString("latin1")) ?? []) w.notify();
    });
  }

  async dequeueIndexed(queue: Buffer, into?: QueueMove): Promise<QueueEntry | undefined> {
    const q = bytes("queue", queue);
    const keys = queueKeys(q);
    return this.guard(() =>
      this.queueLock.run("queues", async () => {
        const [head, tail] = (await this.readMany([keys.head, keys.tail])).map(decodeCounter) as [
          number,
          number,
        ];
        if (head === tail) return undefined;
        const slot = keys.element(head);
        const value = await this.read(slot);
        let moved: BatchOp[] = [];
        let failure: unknown;
        if (into && value !== undefined) {
          try {
            moved = [
              {
                type: "put",
                key: into.key,
                value: bytes("moved element", into.encode({ index: head, value })),
              },
            ];
          } catch (e) {
            failure = e;
          }
          if (failure === undefined && into.with) {
            try {
              moved.push(...validateBatch(await into.with({ index: head, value })));
            } catch (e) {
              failure = e;
            }
          }
        }
        await this.apply([
          { type: "del", key: slot },
          { type: "put", key: keys.head, value: encodeCounter(nextSlot(head)) },
          ...moved,
        ]);
        // A slot between head and tail that vanished was removed underneath us; moving past it
        // keeps the queue usable, and the caller learns that an element was lost.
        if (value === undefined) throw new StorageIntegrityError();
        if (failure !== undefined) throw failure;
        return { index: head, value };
      }),
    );
  }

  async dequeueIndexedWait(
    queue: Buffer,
    timeoutMs: number,
    signal?: AbortSignal,
    into?: QueueMove,
  ): Promise<QueueEntry | undefined> {
    const q = bytes("queue", queue);
    const t = validateTimeout(timeoutMs);
    if (this.closing.signal.aborted) return Promise.reject(new StorageClosedError());
    const name = q.toString("latin1");
    return waitFor(
      () => this.dequeueIndexed(q, into),
      () => subscribe(this.waiters, name),
      t,
      [this.closing.signal, signal],
    );
  }

  async close(): Promise<void> {
    if (!this.closing.signal.aborted) this.closing.abort(new StorageClosedError());
    // Let queued queue operations finish before the handle goes away.
    await this.queueLock.run("queues", async () => {});
    if (this.db.status === "open" || this.db.status === "opening") await this.db.close();
  }

  private async guard<T>(fn: () => Promise<T>): Promise<T> {
    if (this.closing.signal.aborted) throw new StorageClosedError();
    try {
      return await fn();
    } catch (e) {
      if (e instanceof StorageError) throw e;
      if ((e as { code?: string }).code === "LEVEL_DATABASE_NOT_OPEN") throw new StorageClosedError();
      throw new StorageError("LevelDB operation failed", { cause: e });
    }
  }
}
