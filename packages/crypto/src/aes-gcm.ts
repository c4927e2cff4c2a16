import { type CipherGCM, createCipheriv, createDecipheriv, type DecipherGCM } from "node:crypto";
import { macEquals } from "./cmac.js";
import { debugQuote, FileCryptoError } from "./errors.js";
import type { AesGcmInfo } from "./info.js";

/** Length of the GCM tag that ends every AES-GCM file. */
export const AES_GCM_TAG_LENGTH = 16;
/** The legacy format authenticates 8 zero bytes as additional data; without them nothing opens. */
const AAD = Buffer.alloc(8);

const legacyName = (info: AesGcmInfo) => (info.schema === "aes-gcm-128" ? "AesGcm128" : "AesGcm256");
const algorithm = (info: AesGcmInfo) => (info.schema === "aes-gcm-128" ? "aes-128-gcm" : "aes-256-gcm");

/**
 * Incremental writer of the AES-GCM file format (ciphertext ‖ 16-byte tag): feed plaintext to
 * `update`, write what it returns, then write what `final` returns (the tag, which is also the
 * file's cmac).
 */
export class AesGcmFileEncryptor {
  readonly #cipher: CipherGCM;
  #done = false;

  constructor(info: AesGcmInfo) {
    this.#cipher = createCipheriv(algorithm(info), info.key, info.iv, { authTagLength: AES_GCM_TAG_LENGTH });
    this.#cipher.setAAD(AAD);
  }

  update(plaintext: Uint8Array): Buffer {
    if (this.#done) throw new Error("AesGcmFileEncryptor used after final()");
    return this.#cipher.update(plaintext);
  }

  /** Ends the file; returns the 16-byte tag to append (= the cmac Teaclave reports). */
  final(): Buffer {
    if (this.#done) throw new Error("AesGcmFileEncryptor used after final()");
    this.#done = true;
    const rest = this.#cipher.final();
    if (rest.length !== 0) throw new Error("unexpected GCM output at final");
    return this.#cipher.getAuthTag();
  }
}

export interface AesGcmDecryptOptions {
  /** The registered cmac; when given, the file's tag must equal it (checked before decryption). */
  expectedCmac?: Uint8Array;
  /** Path used in the legacy error texts (`AesGcm128 File, invalid tag: "<path>"`). */
  path?: string;
}

/**
 * Incremental reader of the AES-GCM file format. `update` returns plaintext as it goes, holding
 * back the last 16 bytes (the tag); that plaintext is NOT authenticated until `final` returns, so
 * callers must discard everything if `final` throws. Checks in the legacy order: length > 16,
 * tag = registered cmac, then authenticated decryption.
 */
export class AesGcmFileDecryptor {
  readonly #decipher: DecipherGCM;
  readonly #info: AesGcmInfo;
  readonly #opts: AesGcmDecryptOptions;
  #tail: Buffer = Buffer.alloc(0);
  #consumed = 0;
  #done = false;

  constructor(info: AesGcmInfo, opts: AesGcmDecryptOptions = {}) {
    this.#info = info;
    this.#opts = opts;
    this.#decipher = createDecipheriv(algorithm(info), info.key, info.iv, {
      authTagLength: AES_GCM_TAG_LENGTH,
    });
    this.#decipher.setAAD(AAD);
  }

  update(chunk: Uint8Array): Buffer {
    if (this.#done) throw new Error("AesGcmFileDecryptor used after final()");
    const T = AES_GCM_TAG_LENGTH;
    if (chunk.length >= T) {
      const head = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length - T);
      const out = [this.#feed(this.#tail), this.#feed(head)];
      this.#tail = Buffer.from(chunk.subarray(chunk.length - T));
      return out[0]!.length === 0 ? out[1]! : Buffer.concat(out);
    }
    const joined = Buffer.concat([this.#tail, chunk]);
    const cut = Math.max(0, joined.length - T);
    this.#tail = joined.subarray(cut);
    return this.#feed(joined.subarray(0, cut));
  }

  #feed(ciphertext: Buffer): Buffer {
    if (ciphertext.length === 0) return Buffer.alloc(0);
    this.#consumed += ciphertext.length;
    return this.#decipher.update(ciphertext);
  }

  /** Verifies the file; returns its tag (the cmac). Throws `FileCryptoError` on any failure. */
  final(): Buffer {
    if (this.#done) throw new Error("AesGcmFileDecryptor used after final()");
    this.#done = true;
    const name = legacyName(this.#info);
    const path = debugQuote(this.#opts.path ?? "");
    if (this.#consumed + this.#tail.length <= AES_GCM_TAG_LENGTH) {
      throw new FileCryptoError("invalid-length", `${name} File, invalid length: ${path}`);
    }
    const tag = this.#tail;
    const expected = this.#opts.expectedCmac;
    if (expected !== undefined && !macEquals(tag, expected)) {
      throw new FileCryptoError("invalid-tag", `${name} File, invalid tag: ${path}`);
    }
    this.#decipher.setAuthTag(tag);
    try {
      this.#decipher.final();
    } catch {
      throw new FileCryptoError("aead", "Aead open_in_place error");
    }
    return Buffer.from(tag);
  }
}

/** Encrypts a whole buffer into the AES-GCM file format. */
export function encryptAesGcmBuffer(plaintext: Uint8Array, info: AesGcmInfo): { file: Buffer; cmac: Buffer } {
  const enc = new AesGcmFileEncryptor(info);
  const body = enc.update(plaintext);
  const cmac = enc.final();
  return { file: Buffer.concat([body, cmac]), cmac };
}

/** Decrypts a whole AES-GCM file; returns the plaintext and the file's tag. */
export function decryptAesGcmBuffer(
  file: Uint8Array,
  info: AesGcmInfo,
  opts: AesGcmDecryptOptions = {},
): { plaintext: Buffer; cmac: Buffer } {
  const dec = new AesGcmFileDecryptor(info, opts);
  const plaintext = dec.update(file);
  const cmac = dec.final();
  return { plaintext, cmac };
}
