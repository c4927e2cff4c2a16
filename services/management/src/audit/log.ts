import { cloisterError } from "@cloister/core";
import { type AuditEntry, AuditEntryId, auditEntries } from "@cloister/model";
import type { common } from "@cloister/proto";
import type { RecordStore } from "@cloister/storage";
import { type AuditDoc, AuditQueryError, compileQuery } from "./query.js";

const queryError = (details: string) => cloisterError("AUDIT_QUERY_INVALID", { details });

const entryOf = (e: common.Entry): AuditEntry => ({
  microsecond: Math.trunc(Number(e.microsecond ?? 0)),
  ip: Buffer.from(e.ip ?? []),
  user: e.user ?? "",
  message: e.message ?? "",
  result: e.result ?? false,
});

/** How much audit history is kept and how much of it one query may read. */
export interface AuditRetention {
  /**
   * Newest entries kept; older ones are deleted (default 100 000). Between sweeps the store may
   * hold up to a tenth more (or `sweepEvery` more, if that is larger): a sweep lists every entry,
   * so it runs only once that many are over the bound.
   */
  maxEntries: number;
  /** Entries older than this are deleted (default: no age limit; the count bounds the store). */
  maxAgeMs: number;
  /** A query reads at most this many of the newest entries (default 20 000). */
  maxScanned: number;
  /** Retention runs after this many saved entries (default 1000) and at the first save. */
  sweepEvery: number;
}

export const DEFAULT_AUDIT_RETENTION: AuditRetention = {
  maxEntries: 100_000,
  maxAgeMs: Number.POSITIVE_INFINITY,
  maxScanned: 20_000,
  sweepEvery: 1000,
};

/** Entries saved in one storage step. */
const SAVE_BATCH = 100;
/** Entries of one query read from storage at once. */
const READ_BATCH = 32;

/**
 * The durable, queryable audit log kept by management. Bounded: retention
 * by count and age, and a query reads only the newest `maxScanned` entries, so neither a flood
 * of entries nor a query that matches nothing costs unbounded storage or time.
 */
export class AuditLog {
  private readonly retention: AuditRetention;
  private sinceSweep = Number.POSITIVE_INFINITY;
  /** Entries in the store as of the last sweep plus those saved since (unknown before one). */
  private stored: number | undefined;
  private sweeping: Promise<void> = Promise.resolve();

  constructor(
    private readonly records: RecordStore,
    retention: Partial<AuditRetention> = {},
    private readonly now: () => number = Date.now,
  ) {
    this.retention = { ...DEFAULT_AUDIT_RETENTION, ...retention };
  }

  async save(entries: common.Entry[]): Promise<void> {
    // A storage step per batch of entries, not per entry (an entry per frontend call must not
    // cost a round trip per call); batches stay below etcd's default of 128 operations.
    for (let i = 0; i < entries.length; i += SAVE_BATCH) {
      const writes = this.records.transaction();
      for (const e of entries.slice(i, i + SAVE_BATCH)) {
        const entry = entryOf(e);
        writes.put(auditEntries, AuditEntryId.create(entry.microsecond), entry);
      }
      await this.records.commit(writes);
    }
    this.sinceSweep += entries.length;
    if (this.stored !== undefined) this.stored += entries.length;
    if (this.sinceSweep >= this.retention.sweepEvery && this.sweepDue()) {
      this.sinceSweep = 0;
      this.sweeping = this.sweeping.then(() => this.sweep());
      await this.sweeping;
    }
  }

  /**
   * Whether a sweep could delete anything: always with an age limit or before the first one;
   * with only the count bound, once the store is that far over it (listing every entry after
   * each `sweepEvery` saves cost a listing of the whole log per thousand entries once it was full).
   */
  private sweepDue(): boolean {
    const { maxEntries, maxAgeMs, sweepEvery } = this.retention;
    if (this.stored === undefined || Number.isFinite(maxAgeMs)) return true;
    return this.stored > maxEntries + Math.max(sweepEvery, Math.floor(maxEntries / 10));
  }

  /** Deletes entries beyond the newest `maxEntries` and those older than `maxAgeMs`. */
  async sweep(): Promise<void> {
    const ids = await this.records.list(auditEntries);
    const cutoff = (this.now() - this.retention.maxAgeMs) * 1000;
    let drop = Math.max(0, ids.length - this.retention.maxEntries);
    while (drop < ids.length && AuditEntryId.microsecondOf(ids[drop]!) < cutoff) drop++;
    // A storage step per batch of deletes, as for saves.
    for (let i = 0; i < drop; i += SAVE_BATCH) {
      const deletes = this.records.transaction();
      for (const id of ids.slice(i, Math.min(drop, i + SAVE_BATCH))) deletes.delete(auditEntries, id);
      await this.records.commit(deletes);
    }
    this.stored = ids.length - drop;
  }

  /** At most `limit` matching entries, newest first. */
  async query(query: string, limit: number): Promise<common.Entry[]> {
    if (!Number.isFinite(limit) || limit <= 0) throw queryError("limit must be greater than 0");
    let match: (d: AuditDoc) => boolean;
    try {
      match = compileQuery(query);
    } catch (e) {
      if (e instanceof AuditQueryError) throw queryError(e.details);
      throw e;
    }
    const ids = await this.records.list(auditEntries);
    const newest = ids.slice(-this.retention.maxScanned).reverse();
    const out: common.Entry[] = [];
    for (let i = 0; i < newest.length && out.length < limit; i += READ_BATCH) {
      // A damaged entry (find: undefined) must not hide the others.
      const docs: Array<AuditDoc | undefined> = await Promise.all(
        newest.slice(i, i + READ_BATCH).map((id) => this.records.find(auditEntries, id)),
      );
      for (const d of docs) {
        if (!d || out.length >= limit) continue;
        if (match(d)) out.push({ ...d, ip: Buffer.from(d.ip) });
      }
    }
    return out;
  }
}
