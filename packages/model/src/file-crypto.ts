import { cloisterError } from "@cloister/core";
import {
  type FileCryptoInfo,
  type FileCryptoSchema,
  parseFileCryptoInfo,
  toWireFileCryptoInfo,
} from "@cloister/crypto";
import type { common } from "@cloister/proto";
import { bytesToJson, isJsonObject, type JsonValue, obj } from "./json.js";
import { bytes, RecordFormatError } from "./read.js";

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
