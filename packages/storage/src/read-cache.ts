import type { BatchOp } from "./types.js";

/**
 * Recently read and written values of a store this process owns alone (LevelDB holds a lock on
 * its directory), so a read can skip the database. Write-through: every write updates (or, if
 * it failed, forgets) its keys. A read that missed fills the cache only if no write happened
 * while it was reading (`begin`/`fill` epochs), so a slow read can never put back a value a
 * newer write replaced. Bounded in bytes, least recently used first out.
 */
export class ReadCache {
  private readonly entries = new Map<string, Buffer | null>();
  private bytes = 0;
  private epoch = 0;

  constructor(
    private readonly maxBytes = 16 * 1024 * 1024,
    private readonly maxValueBytes = 256 * 1024,
  ) {}

  /** The value (a copy), null when known absent, undefined when not cached. */
  lookup(key: Buffer): Buffer | null | undefined {
    const k = key.toString("latin1");
    const v = this.entries.get(k);
    if (v === undefined) return undefined;
    this.entries.delete(k);
    this.entries.set(k, v);
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
    const old = this.entries.get(k);
    if (old === undefined) return;
    this.bytes -= k.length + (old?.length ?? 0);
    this.entries.delete(k);
  }

  private set(k: string, value: Buffer | undefined): void {
    this.drop(k);
    if (value && value.length > this.maxValueBytes) return;
    const v = value ? Buffer.from(value) : null;
    this.entries.set(k, v);
    this.bytes += k.length + (v?.length ?? 0);
    for (const [oldest, old] of this.entries) {
      if (this.bytes <= this.maxBytes) break;
      this.entries.delete(oldest);
      this.bytes -= oldest.length + (old?.length ?? 0);
    }
  }
}
