import { randomBytes } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { type FileHandle, open, rename, unlink } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { pipeline } from "node:stream/promises";
import { AES_GCM_TAG_LENGTH } from "./aes-gcm.js";
import { macEquals } from "./cmac.js";
import { debugQuote, FileCryptoError } from "./errors.js";
import type { FileCryptoInfo } from "./info.js";
import type { PositionalSink } from "./protected-file.js";
import { HEADER } from "./protected-layout.js";
import { type ByteSource, type DecryptOptions, decryptStream, encryptToSink, RAW_CMAC } from "./stream.js";

const CHUNK = 1 << 20;

/** A `PositionalSink` over an open file handle. */
export function fileHandleSink(handle: FileHandle): PositionalSink {
  return {
    async write(data, position) {
      let done = 0;
      while (done < data.length) {
        const { bytesWritten } = await handle.write(data, done, data.length - done, position + done);
        done += bytesWritten;
      }
    },
  };
}

/** Sibling temp name, so the final rename stays on one file system. */
const tempPathFor = (outPath: string) =>
  join(dirname(outPath), `.${basename(outPath)}.${randomBytes(6).toString("hex")}.partial`);

async function replaceAtomically<T>(outPath: string, produce: (tmp: string) => Promise<T>): Promise<T> {
  const tmp = tempPathFor(outPath);
  try {
    const result = await produce(tmp);
    await rename(tmp, outPath);
    return result;
  } catch (e) {
    await unlink(tmp).catch(() => {});
    throw e;
  }
}

export interface EncryptFileOptions {
  /**
   * teaclave-file-128: basename embedded in the file. Defaults to the basename of `outPath`;
   * the execution service passes the output URL's basename instead.
   */
  fileName?: string;
}

/**
 * Encrypts `inPath` into `outPath` (streaming, disk to disk) and returns the cmac Teaclave
 * records for the result. `outPath` appears only once complete.
 */
export async function encryptFile(
  inPath: string,
  outPath: string,
  info: FileCryptoInfo,
  opts: EncryptFileOptions = {},
): Promise<{ cmac: Buffer }> {
  const fileName = opts.fileName ?? basename(outPath);
  return replaceAtomically(outPath, async (tmp) => {
    const handle = await open(tmp, "wx", 0o600);
    try {
      const source = createReadStream(inPath, { highWaterMark: CHUNK });
      const { cmac } = await encryptToSink(source, fileHandleSink(handle), info, { fileName });
      await handle.sync();
      return { cmac };
    } finally {
      await handle.close();
    }
  });
}

export interface DecryptFileOptions {
  /**
   * teaclave-file-128: the stored name must equal this. Defaults to the basename of `inPath`
   * (the legacy CLI rule); `null` skips the check.
   */
  fileName?: string | null;
}

/**
 * Reads the tag a file claims without authenticating anything: the trailing 16 bytes for AES-GCM,
 * the metadata GMAC (bytes 80–95) for teaclave-file-128, zeros for raw. Use `computeCmac` or
 * `decryptFile` to actually verify.
 */
export async function readClaimedCmac(path: string, info: FileCryptoInfo): Promise<Buffer> {
  if (info.schema === "raw") return Buffer.from(RAW_CMAC);
  const handle = await open(path, "r");
  try {
    const { size } = await handle.stat();
    const aes = info.schema !== "teaclave-file-128";
    const position = aes ? size - AES_GCM_TAG_LENGTH : HEADER.gmac;
    const name =
      info.schema === "aes-gcm-128" ? "AesGcm128" : info.schema === "aes-gcm-256" ? "AesGcm256" : null;
    if (size < position + 16 || position < 0 || (aes && size <= AES_GCM_TAG_LENGTH)) {
      const message = name
        ? `${name} File, invalid length: ${debugQuote(path)}`
        : `Protected file is truncated: ${debugQuote(path)}`;
      throw new FileCryptoError(aes ? "invalid-length" : "truncated", message);
    }
    const tag = Buffer.alloc(16);
    await handle.read(tag, 0, 16, position);
    return tag;
  } finally {
    await handle.close();
  }
}

/**
 * Decrypts `inPath` into `outPath` (streaming). Every check of the schema runs, plus the
 * registered cmac when given; on any failure `outPath` is not created and the error is a
 * `FileCryptoError` with the legacy text. Returns the authenticated cmac.
 */
export async function decryptFile(
  inPath: string,
  outPath: string,
  info: FileCryptoInfo,
  expectedCmac?: Uint8Array,
  opts: DecryptFileOptions = {},
): Promise<{ cmac: Buffer }> {
  if (info.schema === "aes-gcm-128" || info.schema === "aes-gcm-256") {
    // Length and tag are checked before any decryption work, as the legacy reader does.
    const claimed = await readClaimedCmac(inPath, info);
    if (expectedCmac !== undefined && !macEquals(claimed, expectedCmac)) {
      const name = info.schema === "aes-gcm-128" ? "AesGcm128" : "AesGcm256";
      throw new FileCryptoError("invalid-tag", `${name} File, invalid tag: ${debugQuote(inPath)}`);
    }
  }
  const dopts: DecryptOptions = { path: inPath };
  if (expectedCmac !== undefined) dopts.expectedCmac = expectedCmac;
  if (info.schema === "teaclave-file-128" && opts.fileName !== null) {
    dopts.fileName = opts.fileName ?? basename(inPath);
  }
  return replaceAtomically(outPath, async (tmp) => {
    const stream = decryptStream(createReadStream(inPath, { highWaterMark: CHUNK }), info, dopts);
    await pipeline(stream, createWriteStream(tmp, { flags: "wx", mode: 0o600 }));
    return { cmac: stream.cmac! };
  });
}

/**
 * Authenticates a whole file (any schema) and returns its cmac; throws `FileCryptoError` if it
 * does not authenticate. The plaintext is discarded.
 */
export async function computeCmac(
  source: ByteSource,
  info: FileCryptoInfo,
  opts: DecryptOptions = {},
): Promise<Buffer> {
  const s = decryptStream(source, info, opts);
  for await (const _ of s) {
    // draining: authentication completes only at the end
  }
  return s.cmac!;
}

/**
 * True iff the file authenticates under `info` and its cmac equals `expected` (constant-time
 * comparison). Integrity failures give false; I/O errors still throw.
 */
export async function verifyCmac(
  source: ByteSource,
  info: FileCryptoInfo,
  expected: Uint8Array,
  opts: Omit<DecryptOptions, "expectedCmac"> = {},
): Promise<boolean> {
  try {
    const cmac = await computeCmac(source, info, opts);
    return macEquals(cmac, expected);
  } catch (e) {
    if (e instanceof FileCryptoError) return false;
    throw e;
  }
}
