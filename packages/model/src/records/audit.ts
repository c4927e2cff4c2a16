import { randomUUID } from "node:crypto";
import { bytesToJson, type JsonValue, obj, writeNumber } from "../json.js";
import { bytesText, quote, recordHead } from "../json-text.js";
import { asObject, bool, bytes, intValue, str } from "../read.js";
import { directCodec } from "./codec.js";
import { recordType } from "./type.js";

/** One audited call, as management keeps it. */
export interface AuditEntry {
  microsecond: number;
  ip: Buffer;
  user: string;
  message: string;
  result: boolean;
}

declare const auditBrand: unique symbol;
/** `<20-digit microsecond>-<uuid>`: key order is time order, and two entries never collide. */
export type AuditEntryId = string & { readonly [auditBrand]: true };

const ID = /^(\d{20})-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export const AuditEntryId = {
  create: (microsecond: number): AuditEntryId =>
    `${String(Math.max(0, Math.trunc(microsecond))).padStart(20, "0")}-${randomUUID()}` as AuditEntryId,
  microsecondOf: (id: AuditEntryId): number => Number(id.slice(0, 20)),
};

const toJson = (e: AuditEntry): JsonValue =>
  obj([
    ["microsecond", Math.trunc(e.microsecond)],
    ["ip", bytesToJson(e.ip)],
    ["user", e.user],
    ["message", e.message],
    ["result", e.result],
  ]);

const text = (e: AuditEntry, base64: boolean): string =>
  `${recordHead(base64)}"microsecond":${writeNumber(Math.trunc(e.microsecond))},"ip":${bytesText(e.ip, base64)},` +
  `"user":${quote(e.user)},"message":${quote(e.message)},"result":${e.result}}`;

function fromJson(v: JsonValue): AuditEntry {
  const o = asObject(v, "audit entry");
  return {
    microsecond: intValue(o.get("microsecond"), "microsecond"),
    ip: bytes(o.get("ip"), "ip"),
    user: str(o, "user"),
    message: str(o, "message"),
    result: bool(o, "result"),
  };
}

/** `audit-<id>`: one audit log entry. */
export const auditEntries = recordType<AuditEntryId, AuditEntry>({
  name: "audit entry",
  prefix: "audit-",
  codec: directCodec("audit entry", { toJson, fromJson, text }),
  idOfSuffix: (s) => (ID.test(s) ? (s as AuditEntryId) : undefined),
});
