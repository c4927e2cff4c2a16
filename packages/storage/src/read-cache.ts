import type { BatchOp } from "./types.js";

/**
 * Recently read and written values of a store this process owns alone (LevelDB holds a lock on
 * its directory), so a read can skip the database. Write-through: every write updates (or, if
 * it failed, forgets) its keys. A read that missed fills the cache only if no write happened
 * while it was reading (`begin`/`fill` epochs), so a slow read can never put back a value a
 * newer write replaced.
 *
 * Bounded in bytes, in two generations: entries go into the young one (a hit in the old one
 * copies the entry up); when the young one holds half the bound it becomes the old one and the
 * previous old one is dropped whole. So what was not used for a while goes first (an
 * approximation of least recently used), and no entry is ever moved inside a Map: keeping LRU
 * order by deleting and re-adding an entry made V8 rehash the whole table on every move once it
 * was full, a cost that grew with the entries held (8 µs per hit at 40,000 entries).
 */
export class ReadCache {
  private young = new Map<string, Buffer | null>();
  private old = new Map<string, Buffer | null>();
  private youngBytes = 0;
  private epoch = 0;

  constructor(
    private readonly maxBytes = 16 * 1024 * 1024,
    private readonly maxValueBytes = 256 * 1024,
  ) {}

  /** The value (a copy), null when known absent, undefined when not cached. */
  lookup(key: Buffer): Buffer | null | undefined {
    const k = key.toString("latin1");
    let v = this.young.get(k);
    if (v === undefined) {
      v = this.old.get(k);
      if (v === undefined) return undefined;
      this.add(k, v);
    }
    return v === null ? null : Buffer.from(v);
  }

  begin(): number {
    return this.epoch;
  }

  /** What a read found, kept if no write happened since `begin` returned `epoch`. */
  fill(key: Buffer, value: Buffer | undefined, epoch: number): void {
    if (epoch === this.epoch) this.set(key.toString("latin1"), value);
  }

  /** Writes that were applied. */
  wrote(ops: readonly BatchOp[]): void {
    this.epoch++;
    for (const op of ops) this.set(op.key.toString("latin1"), op.type === "put" ? op.value : undefined);
  }

  /** Writes whose outcome is unknown (they failed): their keys are read from the database again. */
  forget(ops: readonly BatchOp[]): void {
    this.epoch++;
    for (const op of ops) this.drop(op.key.toString("latin1"));
  }

  private drop(k: string): void {
    const v = this.young.get(k);
    if (v !== undefined) {
      this.youngBytes -= k.length + (v?.length ?? 0);
      this.young.delete(k);
    }
    // The old generation is checked only after the young one; a stale copy there must go too.
    this.old.delete(k);
  }

  private set(k: string, value: Buffer | undefined): void {
    if (value && value.length > this.maxValueBytes) {
      this.drop(k);
      return;
    }
    const v = value ? Buffer.from(value) : null;
    const prev = this.young.get(k);
    if (prev === undefined) {
      this.add(k, v);
      return;
    }
    // Replaced in place (the old generation's copy, if any, is shadowed by this one).
    this.young.set(k, v);
    this.youngBytes += (v?.length ?? 0) - (prev?.length ?? 0);
  }

  /** A key not in the young generation. */
  private add(k: string, v: Buffer | null): void {
    this.young.set(k, v);
    this.youngBytes += k.length + (v?.length ?? 0);
    if (this.youngBytes > this.maxBytes / 2) {
      this.old = this.young;
      this.young = new Map();
      this.youngBytes = 0;
    }
  }
}
