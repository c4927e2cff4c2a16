import { readFile } from "node:fs/promises";
import { basename } from "node:path";
import { fileURLToPath } from "node:url";
import { cloisterError } from "@cloister/core";
import {
  decryptBuffer,
  encryptFile,
  type FileCryptoSchema,
  generateFileCryptoInfo,
  parseFileCryptoInfo,
  toWireFileCryptoInfo,
} from "@cloister/crypto";
import type { CryptoInfoLike } from "./client.js";

/** Crypto info in wire form (what RegisterInputFile/RegisterOutputFile take). */
export interface WireCryptoInfo {
  schema: FileCryptoSchema;
  key: Buffer;
  iv: Buffer;
}

/**
 * Encrypts a data owner's plaintext with a fresh random key, ready for upload and registration:
 * pass the returned `cryptoInfo` and `cmac` to `registerInputFile` with the URL the encrypted
 * file will be served from. For teaclave-file-128 the file name stored inside the file is the
 * basename of `encryptedPath`, which must equal the basename of that URL.
 */
export async function prepareInputFile(
  plaintextPath: string,
  encryptedPath: string,
  schema: FileCryptoSchema,
): Promise<{ cryptoInfo: WireCryptoInfo; cmac: Buffer }> {
  const info = generateFileCryptoInfo(schema);
  const { cmac } = await encryptFile(plaintextPath, encryptedPath, info);
  return { cryptoInfo: toWireFileCryptoInfo(info), cmac };
}

/** A fresh random key (and IV) for an output file, in wire form. */
export function newOutputCryptoInfo(schema: FileCryptoSchema): WireCryptoInfo {
  return toWireFileCryptoInfo(generateFileCryptoInfo(schema));
}

/**
 * Downloads (http/https), or reads (file:// URL or plain path), an encrypted result file and
 * decrypts it with the key its owner registered. Give `cmac` (the task's tag for that output,
 * or GetOutputFile's cmac) to also prove it is exactly the file the task produced.
 */
export async function fetchOutput(
  source: string,
  cryptoInfo: CryptoInfoLike,
  options: { cmac?: Uint8Array } = {},
): Promise<{ plaintext: Buffer; cmac: Buffer }> {
  const info = parseFileCryptoInfo(cryptoInfo);
  const { bytes, name } = await readSource(source);
  return decryptBuffer(bytes, info, {
    path: source,
    // The execution service names a protected file after its output URL's last path segment.
    fileName: name,
    ...(options.cmac ? { expectedCmac: options.cmac } : {}),
  });
}

async function readSource(source: string): Promise<{ bytes: Buffer; name: string }> {
  let url: URL | undefined;
  if (/^[a-zA-Z][a-zA-Z0-9+.-]*:\/\//.test(source)) url = new URL(source);
  if (!url) return { bytes: await readFile(source), name: basename(source) };
  // As the file agent does: last path segment, percent-encoding kept.
  const name = url.pathname.split("/").pop() ?? "";
  if (url.protocol === "file:") return { bytes: await readFile(fileURLToPath(url)), name };
  if (url.protocol === "http:" || url.protocol === "https:") {
    const response = await fetch(url);
    if (!response.ok) {
      throw cloisterError("DOWNLOAD_FAILED", { source, status: response.status });
    }
    return { bytes: Buffer.from(await response.arrayBuffer()), name };
  }
  throw cloisterError("UNSUPPORTED_SOURCE", { scheme: url.protocol });
}
