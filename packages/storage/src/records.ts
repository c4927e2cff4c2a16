import { RecordFormatError, type RecordType } from "@cloister/model";
import { type KeyState, waitForChange } from "./change.js";
import { type BatchOp, hasKeyWatches, type KvStore } from "./types.js";

/** A long poll on one key (the storage service's client has it; see `waitForChange`). */
export interface ChangeWatch {
  waitForChange(
    key: Buffer,
    known: Buffer,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<KeyState | undefined>;
}

/**
 * What the typed store needs of a backend (every KvStore, the storage service's client included).
 * `RecordStore.waitForChange` also needs the backend's own long poll or key watches.
 */
export type RecordBackend = Pick<KvStore, "get" | "put" | "delete" | "keysByPrefix" | "batch"> &
  Partial<ChangeWatch>;

/** A record as one watcher last saw it; `digest` is what the next wait passes as `known`. */
export interface RecordState<T> {
  record: T | undefined;
  digest: Buffer;
}

export interface RecordStoreOptions {
  /**
   * Turns a backend failure into what the caller throws (management answers 13 `service internal
   * error` and logs the cause). Not called for records that do not decode.
   */
  onFailure?: (err: unknown, what: string) => unknown;
}

/** Writes applied together by `RecordStore.commit` (or with a queue element by the hand-off). */
export class RecordTransaction {
  readonly ops: BatchOp[] = [];

  put<Id extends string, T>(type: RecordType<Id, T>, id: Id, record: T): this {
    this.ops.push({ type: "put", key: type.key(id), value: type.encode(record) });
    return this;
  }

  delete<Id extends string, T>(type: RecordType<Id, T>, id: Id): this {
    this.ops.push({ type: "del", key: type.key(id) });
    return this;
  }

  /** A write outside the record types (the scheduler's lease bookkeeping). */
  raw(op: BatchOp): this {
    this.ops.push(op);
    return this;
  }
}

/**
 * Typed access to the key-value store: get / put / delete / list / transaction per record type.
 * Keys and codecs come from the record types (@cloister/model's records), never from callers.
 */
export class RecordStore {
  constructor(
    readonly backend: RecordBackend,
    private readonly options: RecordStoreOptions = {},
  ) {}

  private async io<T>(what: string, op: () => Promise<T>): Promise<T> {
    if (!this.options.onFailure) return op();
    try {
      return await op();
    } catch (e) {
      throw this.options.onFailure(e, what);
    }
  }

  /** The record, undefined when there is none; a value that does not decode is a RecordFormatError. */
  async get<Id extends string, T>(type: RecordType<Id, T>, id: Id): Promise<T | undefined> {
    const raw = await this.io(`get ${type.name}`, () => this.backend.get(type.key(id)));
    return raw === undefined ? undefined : type.decode(raw);
  }

  /** As `get`, but a damaged record counts as missing (it names nothing a client can use). */
  async find<Id extends string, T>(type: RecordType<Id, T>, id: Id): Promise<T | undefined> {
    try {
      return await this.get(type, id);
    } catch (e) {
      if (e instanceof RecordFormatError) return undefined;
      throw e;
    }
  }

  async put<Id extends string, T>(type: RecordType<Id, T>, id: Id, record: T): Promise<void> {
    await this.io(`put ${type.name}`, () => this.backend.put(type.key(id), type.encode(record)));
  }

  async delete<Id extends string, T>(type: RecordType<Id, T>, id: Id): Promise<void> {
    await this.io(`delete ${type.name}`, () => this.backend.delete(type.key(id)));
  }

  /** Ids of every record of the type, in key order (keys whose id cannot be read are skipped). */
  async list<Id extends string, T>(type: RecordType<Id, T>): Promise<Id[]> {
    const keys = await this.io(`list ${type.name}`, () =>
      this.backend.keysByPrefix(Buffer.from(type.prefix, "utf8")),
    );
    return keys
      .sort(Buffer.compare)
      .map((k) => type.idOfKey(k))
      .filter((id): id is Id => id !== undefined);
  }

  /**
   * The record once it differs from the one whose digest is `known` (at once for an empty
   * `known`), or undefined when `timeoutMs` passes without a change. A value that does not
   * decode is a RecordFormatError, as in `get`.
   */
  async waitForChange<Id extends string, T>(
    type: RecordType<Id, T>,
    id: Id,
    known: Buffer,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<RecordState<T> | undefined> {
    const key = type.key(id);
    const backend = this.backend;
    const state = await this.io(`watch ${type.name}`, () => {
      if (backend.waitForChange) return backend.waitForChange(key, known, timeoutMs, signal);
      const store = backend as KvStore;
      if (hasKeyWatches(store)) return waitForChange(store, key, known, timeoutMs, signal);
      throw new TypeError("this record backend cannot wait for changes");
    });
    if (!state) return undefined;
    return { record: state.value === undefined ? undefined : type.decode(state.value), digest: state.digest };
  }

  transaction(): RecordTransaction {
    return new RecordTransaction();
  }

  /** All writes of the transaction or none. */
  async commit(txn: RecordTransaction): Promise<void> {
    if (txn.ops.length === 0) return;
    await this.io("commit", () => this.backend.batch(txn.ops));
  }
}
