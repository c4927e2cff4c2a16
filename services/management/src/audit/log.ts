import { randomUUID } from "node:crypto";
import { CloisterError, Status } from "@cloister/core";
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

const queryError = (details: string) =>
  new CloisterError(Status.UNKNOWN, `audit log error, reason: failed to query logs ${details}`);

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

/** The durable, queryable audit log kept by management. */
export class AuditLog {
  constructor(private readonly store: ManagementStore) {}

  async save(entries: common.Entry[]): Promise<void> {
    for (const e of entries)
      await this.store.put(
        Buffer.from(keyOf(Number(e.microsecond ?? 0)), "utf8"),
        Buffer.from(encode(e), "utf8"),
      );
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
    const out: common.Entry[] = [];
    for (let k = keys.length - 1; k >= 0 && out.length < limit; k--) {
      const v = await this.store.get(keys[k]!);
      if (!v) continue;
      let d: AuditDoc;
      try {
        d = decode(v.toString("utf8"));
      } catch {
        continue; // a damaged entry must not hide the others
      }
      if (match(d)) out.push({ ...d, ip: Buffer.from(d.ip) });
    }
    return out;
  }
}
