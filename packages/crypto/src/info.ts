import { randomBytes } from "node:crypto";
import { cloisterError } from "@cloister/core";

/** The schema strings of the wire `FileCryptoInfo.schema` field. */
export const FILE_CRYPTO_SCHEMAS = ["aes-gcm-128", "aes-gcm-256", "teaclave-file-128", "raw"] as const;
export type FileCryptoSchema = (typeof FILE_CRYPTO_SCHEMAS)[number];

export interface AesGcm128Info {
  readonly schema: "aes-gcm-128";
  /** 16 bytes. */
  readonly key: Buffer;
  /** 12 bytes. */
  readonly iv: Buffer;
}
export interface AesGcm256Info {
  readonly schema: "aes-gcm-256";
  /** 32 bytes. */
  readonly key: Buffer;
  /** 12 bytes. */
  readonly iv: Buffer;
}
export interface TeaclaveFile128Info {
  readonly schema: "teaclave-file-128";
  /** 16-byte user key-derivation key. */
  readonly key: Buffer;
}
export interface RawInfo {
  readonly schema: "raw";
}
export type AesGcmInfo = AesGcm128Info | AesGcm256Info;
/** A validated crypto description of one file; the union is keyed by `schema`. */
export type FileCryptoInfo = AesGcm128Info | AesGcm256Info | TeaclaveFile128Info | RawInfo;

/** The wire shape (protobuf `teaclave_common_proto.FileCryptoInfo`). */
export interface WireFileCryptoInfo {
  schema: string;
  key?: Uint8Array;
  iv?: Uint8Array;
}

function copy(b: Uint8Array | undefined): Buffer {
  return b ? Buffer.from(b) : Buffer.alloc(0);
}

/** Legacy variant names, used in error texts and in the legacy JSON form. */
const LEGACY_NAME = { "aes-gcm-128": "AesGcm128", "aes-gcm-256": "AesGcm256" } as const;

function aesGcm<S extends "aes-gcm-128" | "aes-gcm-256">(
  schema: S,
  keyLen: number,
  key: Buffer,
  iv: Buffer,
): { schema: S; key: Buffer; iv: Buffer } {
  const name = LEGACY_NAME[schema];
  if (key.length !== keyLen) throw cloisterError("INVALID_KEY_LENGTH", { schema: name, length: key.length });
  if (iv.length !== 12) throw cloisterError("INVALID_IV_LENGTH", { schema: name, length: iv.length });
  return { schema, key, iv };
}

function teaclaveFile(key: Buffer, iv: Buffer): TeaclaveFile128Info {
  if (key.length !== 16)
    throw cloisterError("INVALID_KEY_LENGTH", { schema: "teaclave_file_128", length: key.length });
  if (iv.length !== 0) throw cloisterError("IV_NOT_EMPTY");
  return { schema: "teaclave-file-128", key };
}

/**
 * Validates a wire `FileCryptoInfo`. Throws the catalog's `CloisterError` (code 3) with the
 * exact legacy text. Key and IV are copied, so later mutation of the wire buffers has no effect.
 */
export function parseFileCryptoInfo(wire: WireFileCryptoInfo): FileCryptoInfo {
  const key = copy(wire.key);
  const iv = copy(wire.iv);
  switch (wire.schema) {
    case "aes-gcm-128":
      return aesGcm("aes-gcm-128", 16, key, iv);
    case "aes-gcm-256":
      return aesGcm("aes-gcm-256", 32, key, iv);
    case "teaclave-file-128":
      return teaclaveFile(key, iv);
    case "raw":
      return { schema: "raw" };
    default:
      throw cloisterError("INVALID_CRYPTO_SCHEMA", { schema: wire.schema });
  }
}

/** The wire form of a validated info (`raw` has empty key and IV). */
export function toWireFileCryptoInfo(info: FileCryptoInfo): {
  schema: FileCryptoSchema;
  key: Buffer;
  iv: Buffer;
} {
  switch (info.schema) {
    case "aes-gcm-128":
    case "aes-gcm-256":
      return { schema: info.schema, key: Buffer.from(info.key), iv: Buffer.from(info.iv) };
    case "teaclave-file-128":
      return { schema: info.schema, key: Buffer.from(info.key), iv: Buffer.alloc(0) };
    case "raw":
      return { schema: "raw", key: Buffer.alloc(0), iv: Buffer.alloc(0) };
  }
}

/** The legacy serde JSON value: `{"AesGcm128":{"key":[..],"iv":[..]}}`, …, `"Raw"`. */
export type LegacyFileCrypto =
  | { AesGcm128: { key: number[]; iv: number[] } }
  | { AesGcm256: { key: number[]; iv: number[] } }
  | { TeaclaveFile128: { key: number[] } }
  | "Raw";

export function toLegacyFileCrypto(info: FileCryptoInfo): LegacyFileCrypto {
  switch (info.schema) {
    case "aes-gcm-128":
      return { AesGcm128: { key: [...info.key], iv: [...info.iv] } };
    case "aes-gcm-256":
      return { AesGcm256: { key: [...info.key], iv: [...info.iv] } };
    case "teaclave-file-128":
      return { TeaclaveFile128: { key: [...info.key] } };
    case "raw":
      return "Raw";
  }
}

function byteArray(v: unknown, what: string): Buffer {
  if (!Array.isArray(v) || !v.every((n) => Number.isInteger(n) && n >= 0 && n <= 255)) {
    throw cloisterError("INVALID_LEGACY_CRYPTO_FIELD", { field: what });
  }
  return Buffer.from(v as number[]);
}

/**
 * Parses the legacy JSON value (already `JSON.parse`d) and applies the same length rules as the
 * wire form. Unknown shapes throw `CloisterError` code 3.
 */
export function fromLegacyFileCrypto(value: unknown): FileCryptoInfo {
  if (value === "Raw") return { schema: "raw" };
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw cloisterError("INVALID_LEGACY_CRYPTO_INFO");
  }
  const entries = Object.entries(value);
  if (entries.length !== 1) throw cloisterError("INVALID_LEGACY_CRYPTO_INFO");
  const [variant, body] = entries[0]!;
  if (typeof body !== "object" || body === null) throw cloisterError("INVALID_LEGACY_CRYPTO_INFO");
  const b = body as Record<string, unknown>;
  const allowed = variant === "TeaclaveFile128" ? ["key"] : ["key", "iv"];
  if (Object.keys(b).some((k) => !allowed.includes(k))) throw cloisterError("INVALID_LEGACY_CRYPTO_INFO");
  switch (variant) {
    case "AesGcm128":
      return aesGcm("aes-gcm-128", 16, byteArray(b.key, "key"), byteArray(b.iv, "iv"));
    case "AesGcm256":
      return aesGcm("aes-gcm-256", 32, byteArray(b.key, "key"), byteArray(b.iv, "iv"));
    case "TeaclaveFile128":
      return teaclaveFile(byteArray(b.key, "key"), Buffer.alloc(0));
    default:
      throw cloisterError("INVALID_LEGACY_CRYPTO_INFO");
  }
}

/** Fresh random key (and IV where the schema has one) for `schema`. */
export function generateFileCryptoInfo(schema: FileCryptoSchema): FileCryptoInfo {
  switch (schema) {
    case "aes-gcm-128":
      return { schema, key: randomBytes(16), iv: randomBytes(12) };
    case "aes-gcm-256":
      return { schema, key: randomBytes(32), iv: randomBytes(12) };
    case "teaclave-file-128":
      return { schema, key: randomBytes(16) };
    case "raw":
      return { schema };
    default:
      throw cloisterError("INVALID_CRYPTO_SCHEMA", { schema: schema as string });
  }
}
