import { cloisterError } from "@cloister/core";
import {
  type FileCryptoInfo,
  type FileCryptoSchema,
  parseFileCryptoInfo,
  toWireFileCryptoInfo,
} from "@cloister/crypto";
import type { common } from "@cloister/proto";
import { bytesToJson, isJsonObject, type JsonValue, obj } from "./json.js";
import { bytesText } from "./json-text.js";
import { bytes, RecordFormatError } from "./read.js";
import { K, keyBytes, type RecordReader } from "./record-reader.js";

/**
 * How a data file is protected. The validated form and its rules belong to
 * the crypto package; the model only stores it and renders its legacy JSON.
 */
export type FileCrypto = FileCryptoInfo;
export type { FileCryptoSchema };

/**
 * Validate a wire FileCryptoInfo. Errors are 13 with the legacy texts;
 * a missing message is `"missing crypto_info"` (quotes included).
 */
export function fileCryptoFromInfo(info: common.FileCryptoInfo | undefined): FileCrypto {
  if (!info) throw cloisterError("MISSING_CRYPTO_INFO");
  return parseFileCryptoInfo(info);
}

/** Back to the wire form. */
export const fileCryptoToInfo = (c: FileCrypto): common.FileCryptoInfo => toWireFileCryptoInfo(c);

/** Legacy JSON: `{"AesGcm128":{"key":[..],"iv":[..]}}`, `{"TeaclaveFile128":{"key":[..]}}` or `"Raw"`. */
export function fileCryptoToJson(c: FileCrypto): JsonValue {
  switch (c.schema) {
    case "aes-gcm-128":
      return obj([
        [
          "AesGcm128",
          obj([
            ["key", bytesToJson(c.key)],
            ["iv", bytesToJson(c.iv)],
          ]),
        ],
      ]);
    case "aes-gcm-256":
      return obj([
        [
          "AesGcm256",
          obj([
            ["key", bytesToJson(c.key)],
            ["iv", bytesToJson(c.iv)],
          ]),
        ],
      ]);
    case "teaclave-file-128":
      return obj([["TeaclaveFile128", obj([["key", bytesToJson(c.key)]])]]);
    case "raw":
      return "Raw";
  }
}

export function fileCryptoFromJson(v: JsonValue | undefined): FileCrypto {
  if (v === "Raw") return { schema: "raw" };
  if (isJsonObject(v) && v.size === 1) {
    const [tag, body] = [...v.entries()][0]!;
    if (isJsonObject(body)) {
      const key = bytes(body.get("key"), `${tag}.key`);
      if (tag === "TeaclaveFile128" && key.length === 16) return { schema: "teaclave-file-128", key };
      if (tag === "AesGcm128" || tag === "AesGcm256") {
        const iv = bytes(body.get("iv"), `${tag}.iv`);
        const keyLen = tag === "AesGcm128" ? 16 : 32;
        if (key.length === keyLen && iv.length === 12)
          return { schema: tag === "AesGcm128" ? "aes-gcm-128" : "aes-gcm-256", key, iv };
      }
    }
  }
  throw new RecordFormatError("crypto_info: not a FileCrypto");
}

/** The text `stringifyJson(fileCryptoToJson(c))` gives, written directly. */
export function fileCryptoText(c: FileCrypto, base64: boolean): string {
  switch (c.schema) {
    case "aes-gcm-128":
      return `{"AesGcm128":{"key":${bytesText(c.key, base64)},"iv":${bytesText(c.iv, base64)}}}`;
    case "aes-gcm-256":
      return `{"AesGcm256":{"key":${bytesText(c.key, base64)},"iv":${bytesText(c.iv, base64)}}}`;
    case "teaclave-file-128":
      return `{"TeaclaveFile128":{"key":${bytesText(c.key, base64)}}}`;
    case "raw":
      return '"Raw"';
  }
}

const AES128 = keyBytes("AesGcm128");
const AES256 = keyBytes("AesGcm256");
const TF128 = keyBytes("TeaclaveFile128");

/** A version 2 crypto_info in the writer's exact shape (see record-reader.ts). */
export function readFileCrypto(r: RecordReader): FileCrypto {
  if (r.peek() === 0x22) return r.str() === "Raw" ? { schema: "raw" } : r.off();
  r.open();
  let c: FileCrypto;
  if (r.nextKeyIs(TF128)) {
    r.open();
    r.key(K.key);
    const key = r.bytes();
    r.close();
    if (key.length !== 16) r.off();
    c = { schema: "teaclave-file-128", key };
  } else {
    const is128 = r.nextKeyIs(AES128);
    if (!is128) r.key(AES256);
    r.open();
    r.key(K.key);
    const key = r.bytes();
    r.next(K.iv);
    const iv = r.bytes();
    r.close();
    if (key.length !== (is128 ? 16 : 32) || iv.length !== 12) r.off();
    c = { schema: is128 ? "aes-gcm-128" : "aes-gcm-256", key, iv };
  }
  r.close();
  return c;
}
