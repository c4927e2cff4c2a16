import { randomUUID } from "node:crypto";
import { cloisterError } from "@cloister/core";
import {
  asObject,
  bool,
  bytes,
  bytesToJson,
  intValue,
  obj,
  parseJson,
  str,
  stringifyJson,
} from "@cloister/model";
import type { common } from "@cloister/proto";
import type { ManagementStore } from "../store.js";
import { type AuditDoc, AuditQueryError, compileQuery } from "./query.js";

/** Entries live under `audit-<20-digit microsecond>-<uuid>`, so key order is time order. */
const PREFIX = "audit-";
const keyOf = (microsecond: number) =>
  `${PREFIX}${String(Math.max(0, Math.trunc(microsecond))).padStart(20, "0")}-${randomUUID()}`;

const queryError = (details: string) => cloisterError("AUDIT_QUERY_INVALID", { details });

function encode(e: common.Entry): string {
  return stringifyJson(
    obj([
      ["microsecond", Math.trunc(Number(e.microsecond ?? 0))],
      ["ip", bytesToJson(Buffer.from(e.ip ?? []))],
      ["user", e.user ?? ""],
      ["message", e.message ?? ""],
      ["result", e.result ?? false],
    ]),
  );
}

function decode(text: string): AuditDoc {
  const o = asObject(parseJson(text), "audit entry");
  return {
    microsecond: intValue(o.get("microsecond"), "microsecond"),
    ip: bytes(o.get("ip"), "ip"),
    user: str(o, "user"),
    message: str(o, "message"),
    result: bool(o, "result"),
  };
}

/** How much audit history is kept and how much of it one query may read. */
export interface AuditRetention {
  /** Newest entries kept; older ones are deleted (default 100 000). */
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

/** Entries of one query read from storage at once. */
const READ_BATCH = 32;
const microsecondOfKey = (key: Buffer) => Number(key.subarray(PREFIX.length, PREFIX.length + 20).toString());

/**
 * The durable, queryable audit log kept by management. Bounded: retention
 * by count and age, and a query reads only the newest `maxScanned` entries, so neither a flood
 * of entries nor a query that matches nothing costs unbounded storage or time.
 */
export class AuditLog {
  private readonly retention: AuditRetention;
  private sinceSweep = Number.POSITIVE_INFINITY;
  private sweeping: Promise<void> = Promise.resolve();

  constructor(
    private readonly store: ManagementStore,
    retention: Partial<AuditRetention> = {},
    private readonly now: () => number = Date.now,
  ) {
    this.retention = { ...DEFAULT_AUDIT_RETENTION, ...retention };
  }

  async save(entries: common.Entry[]): Promise<void> {
    // One storage step for the whole shipment: an entry per frontend call must not cost a
    // storage round trip per call.
    if (entries.length > 0)
      await this.store.batch(
        entries.map((e) => ({
          type: "put" as const,
          key: Buffer.from(keyOf(Number(e.microsecond ?? 0)), "utf8"),
          value: Buffer.from(encode(e), "utf8"),
        })),
      );
    this.sinceSweep += entries.length;
    if (this.sinceSweep >= this.retention.sweepEvery) {
      this.sinceSweep = 0;
      this.sweeping = this.sweeping.then(() => this.sweep());
      await this.sweeping;
    }
  }

  /** Deletes entries beyond the newest `maxEntries` and those older than `maxAgeMs`. */
  async sweep(): Promise<void> {
    const keys = await this.store.keysByPrefix(Buffer.from(PREFIX, "utf8"));
    keys.sort(Buffer.compare);
    const cutoff = (this.now() - this.retention.maxAgeMs) * 1000;
    let drop = Math.max(0, keys.length - this.retention.maxEntries);
    while (drop < keys.length && microsecondOfKey(keys[drop]!) < cutoff) drop++;
    for (const key of keys.slice(0, drop)) await this.store.delete(key);
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
    const keys = await this.store.keysByPrefix(Buffer.from(PREFIX, "utf8"));
    keys.sort(Buffer.compare);
    const newest = keys.slice(-this.retention.maxScanned).reverse();
    const out: common.Entry[] = [];
    for (let i = 0; i < newest.length && out.length < limit; i += READ_BATCH) {
      const values = await Promise.all(newest.slice(i, i + READ_BATCH).map((k) => this.store.get(k)));
      for (const v of values) {
        if (!v || out.length >= limit) continue;
        let d: AuditDoc;
        try {
          d = decode(v.toString("utf8"));
        } catch {
          continue; // a damaged entry must not hide the others
        }
        if (match(d)) out.push({ ...d, ip: Buffer.from(d.ip) });
      }
    }
    return out;
  }
}
