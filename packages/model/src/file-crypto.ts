import { CloisterError, Status } from "@cloister/core";
import type { common } from "@cloister/proto";
import { bytesToJson, isJsonObject, type JsonValue, obj } from "./json.js";
import { bytes, RecordFormatError } from "./read.js";

/**
 * How a data file is protected (plain data; the crypto package does the actual work).
 * Schema names are the wire names of FileCryptoInfo.schema.
 */
export type FileCrypto =
  | { schema: "aes-gcm-128"; key: Buffer; iv: Buffer }
  | { schema: "aes-gcm-256"; key: Buffer; iv: Buffer }
  | { schema: "teaclave-file-128"; key: Buffer }
  | { schema: "raw" };

export type FileCryptoSchema = FileCrypto["schema"];

const invalid = (msg: string) => new CloisterError(Status.INTERNAL, msg);

/**
 * Validate a wire FileCryptoInfo (behaviour.md §5.1). Errors are 13 with the legacy texts;
 * a missing message is `"missing crypto_info"` (quotes included).
 */
export function fileCryptoFromInfo(info: common.FileCryptoInfo | undefined): FileCrypto {
  if (!info) throw invalid('"missing crypto_info"');
  const key = Buffer.from(info.key ?? []);
  const iv = Buffer.from(info.iv ?? []);
  switch (info.schema) {
    case "aes-gcm-128":
    case "aes-gcm-256": {
      const [name, keyLen] = info.schema === "aes-gcm-128" ? ["AesGcm128", 16] : ["AesGcm256", 32];
      if (key.length !== keyLen) throw invalid(`Invalid key length for ${name}: ${key.length}`);
      if (iv.length !== 12) throw invalid(`Invalid iv length for ${name}: ${iv.length}`);
      return { schema: info.schema, key, iv };
    }
    case "teaclave-file-128":
      if (key.length !== 16) throw invalid(`Invalid key length for teaclave_file_128: ${key.length}`);
      if (iv.length !== 0) throw invalid("IV is not empty for teaclave_file_128");
      return { schema: "teaclave-file-128", key };
    case "raw":
      return { schema: "raw" };
    default:
      throw invalid(`Invalid crypto schema: ${info.schema}`);
  }
}

/** Back to the wire form. */
export function fileCryptoToInfo(c: FileCrypto): common.FileCryptoInfo {
  switch (c.schema) {
    case "aes-gcm-128":
    case "aes-gcm-256":
      return { schema: c.schema, key: Buffer.from(c.key), iv: Buffer.from(c.iv) };
    case "teaclave-file-128":
      return { schema: c.schema, key: Buffer.from(c.key), iv: Buffer.alloc(0) };
    case "raw":
      return { schema: "raw", key: Buffer.alloc(0), iv: Buffer.alloc(0) };
  }
}

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
