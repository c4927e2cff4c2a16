import { AesGcmFileDecryptor, AesGcmFileEncryptor } from "./aes-gcm.js";
import { FileCryptoError } from "./errors.js";
import type { FileCryptoInfo } from "./info.js";
import {
  type PositionalSink,
  type ProtectedFileInfo,
  ProtectedFileWriter,
  readProtectedFile,
} from "./protected-file.js";

export type ByteSource = AsyncIterable<Uint8Array> | Iterable<Uint8Array>;

/** `raw` files have no tag; Teaclave accepts any 16 bytes, we report zeros. */
export const RAW_CMAC: Buffer = Buffer.alloc(16);

/**
 * A one-shot async iterable of output chunks whose `cmac` is set once iteration has completed
 * without error. Usable directly as a `stream.pipeline` stage:
 * `pipeline(createReadStream(a), (src) => decryptStream(src, info), createWriteStream(b))`.
 */
export class CryptoStream implements AsyncIterable<Buffer> {
  #cmac: Buffer | undefined;
  #started = false;
  readonly #run: (setCmac: (c: Buffer) => void) => AsyncGenerator<Buffer>;

  constructor(run: (setCmac: (c: Buffer) => void) => AsyncGenerator<Buffer>) {
    this.#run = run;
  }

  /** The file's 16-byte cmac; undefined until the stream has been fully and successfully read. */
  get cmac(): Buffer | undefined {
    return this.#cmac;
  }

  [Symbol.asyncIterator](): AsyncIterator<Buffer> {
    if (this.#started) throw new Error("CryptoStream can be iterated only once");
    this.#started = true;
    return this.#run((c) => {
      this.#cmac = c;
    });
  }
}

export interface DecryptOptions {
  /** The registered cmac; the file must carry exactly this tag. */
  expectedCmac?: Uint8Array;
  /** Path quoted in error texts. */
  path?: string;
  /** teaclave-file-128 only: the stored file name must equal this basename. */
  fileName?: string;
}

/**
 * Decrypts any schema as a stream. teaclave-file-128 output is authenticated node by node before
 * it is yielded. AES-GCM output is authenticated only when the stream ends (the tag is last): on
 * error, discard everything already received. `raw` passes bytes through.
 */
export function decryptStream(
  source: ByteSource,
  info: FileCryptoInfo,
  opts: DecryptOptions = {},
): CryptoStream {
  switch (info.schema) {
    case "aes-gcm-128":
    case "aes-gcm-256":
      return new CryptoStream(async function* (setCmac) {
        const dec = new AesGcmFileDecryptor(info, opts);
        for await (const chunk of source) {
          const out = dec.update(chunk);
          if (out.length > 0) yield out;
        }
        setCmac(dec.final());
      });
    case "teaclave-file-128":
      return new CryptoStream(async function* (setCmac) {
        yield* readProtectedFile(source, info.key, opts, (i: ProtectedFileInfo) => setCmac(i.cmac));
      });
    case "raw":
      return new CryptoStream(async function* (setCmac) {
        for await (const chunk of source) yield Buffer.from(chunk);
        setCmac(RAW_CMAC);
      });
  }
}

/**
 * Encrypts as a sequential stream. Only AES-GCM and `raw` can be produced front to back;
 * teaclave-file-128 places tree nodes before the data they cover, so use `encryptToSink`.
 */
export function encryptStream(source: ByteSource, info: FileCryptoInfo): CryptoStream {
  switch (info.schema) {
    case "aes-gcm-128":
    case "aes-gcm-256":
      return new CryptoStream(async function* (setCmac) {
        const enc = new AesGcmFileEncryptor(info);
        for await (const chunk of source) {
          const out = enc.update(chunk);
          if (out.length > 0) yield out;
        }
        const tag = enc.final();
        yield tag;
        setCmac(tag);
      });
    case "raw":
      return new CryptoStream(async function* (setCmac) {
        for await (const chunk of source) yield Buffer.from(chunk);
        setCmac(RAW_CMAC);
      });
    case "teaclave-file-128":
      throw new FileCryptoError(
        "invalid-argument",
        "teaclave-file-128 cannot be written sequentially; use encryptToSink",
      );
  }
}

export interface EncryptOptions {
  /** teaclave-file-128 only: the basename stored in the file (required for that schema). */
  fileName?: string;
}

/** Encrypts any schema into a positional sink (a file handle or a `BufferSink`). */
export async function encryptToSink(
  source: ByteSource,
  sink: PositionalSink,
  info: FileCryptoInfo,
  opts: EncryptOptions = {},
): Promise<{ cmac: Buffer; size: number }> {
  if (info.schema === "teaclave-file-128") {
    if (opts.fileName === undefined) {
      throw new FileCryptoError("invalid-argument", "teaclave-file-128 needs the file name to embed");
    }
    const w = new ProtectedFileWriter(sink, info.key, { fileName: opts.fileName });
    for await (const chunk of source) await w.write(chunk);
    return w.close();
  }
  const s = encryptStream(source, info);
  let position = 0;
  for await (const chunk of s) {
    await sink.write(chunk, position);
    position += chunk.length;
  }
  return { cmac: s.cmac!, size: position };
}

/** A growable in-memory positional sink. */
export class BufferSink implements PositionalSink {
  #buf = Buffer.alloc(0);
  #length = 0;

  write(data: Uint8Array, position: number): void {
    const end = position + data.length;
    if (end > this.#buf.length) {
      const next = Buffer.alloc(Math.max(end, this.#buf.length * 2));
      this.#buf.copy(next, 0, 0, this.#length);
      this.#buf = next;
    }
    this.#buf.set(data, position);
    this.#length = Math.max(this.#length, end);
  }

  /** The bytes written so far (a view; copy it if the sink will be written again). */
  get contents(): Buffer {
    return this.#buf.subarray(0, this.#length);
  }
}

/** Encrypts a whole buffer in any schema. */
export async function encryptBuffer(
  plaintext: Uint8Array,
  info: FileCryptoInfo,
  opts: EncryptOptions = {},
): Promise<{ file: Buffer; cmac: Buffer }> {
  const sink = new BufferSink();
  const { cmac } = await encryptToSink([plaintext], sink, info, opts);
  return { file: sink.contents, cmac };
}

/** Decrypts a whole buffer in any schema; returns plaintext and the authenticated cmac. */
export async function decryptBuffer(
  file: Uint8Array,
  info: FileCryptoInfo,
  opts: DecryptOptions = {},
): Promise<{ plaintext: Buffer; cmac: Buffer }> {
  const s = decryptStream([file], info, opts);
  const parts: Buffer[] = [];
  for await (const chunk of s) parts.push(chunk);
  return { plaintext: Buffer.concat(parts), cmac: s.cmac! };
}
