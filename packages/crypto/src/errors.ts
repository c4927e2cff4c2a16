import { CloisterError, Status } from "@cloister/core";

/**
 * Why a file could not be decrypted or written. Callers (execution service, CLI) map these to
 * their own reason texts; the messages already carry the legacy texts where the spec fixes one.
 */
export type FileCryptoFailure =
  /** AES-GCM file of 16 bytes or less. */
  | "invalid-length"
  /** AES-GCM trailing tag differs from the registered cmac. */
  | "invalid-tag"
  /** AES-GCM authenticated decryption failed. */
  | "aead"
  /** teaclave-file-128 metadata GMAC differs from the registered cmac. */
  | "corrupted"
  /** teaclave-file-128 header is not one this reader accepts (id, version, mode, flags). */
  | "bad-header"
  /** teaclave-file-128 metadata did not authenticate: wrong key or modified metadata. */
  | "metadata-auth"
  /** teaclave-file-128 tree or data node did not authenticate. */
  | "node-auth"
  /** teaclave-file-128 embedded file name differs from the expected one. */
  | "name-mismatch"
  /** File shorter than its own metadata says. */
  | "truncated"
  /** Bytes after the last node the metadata accounts for. */
  | "trailing-data"
  /** Caller asked for something the format cannot express (e.g. a file name too long). */
  | "invalid-argument";

/**
 * A file failed an integrity or format check. Code 13 like every legacy execution failure; the
 * message never contains key material.
 */
export class FileCryptoError extends CloisterError {
  readonly reason: FileCryptoFailure;
  constructor(reason: FileCryptoFailure, message: string, options?: { cause?: unknown }) {
    super(Status.INTERNAL, message, options);
    this.name = "FileCryptoError";
    this.reason = reason;
  }
}

/**
 * Quotes a path the way the legacy implementation prints it (Rust `{:?}` of a path), so reason
 * texts such as `AesGcm128 File, invalid tag: "<path>"` match byte for byte.
 */
export function debugQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (ch === '"') out += '\\"';
    else if (ch === "\\") out += "\\\\";
    else if (ch === "\n") out += "\\n";
    else if (ch === "\r") out += "\\r";
    else if (ch === "\t") out += "\\t";
    else if (c === 0) out += "\\0";
    else if (c < 0x20 || c === 0x7f) out += `\\u{${c.toString(16)}}`;
    else out += ch;
  }
  return out + '"';
}
