import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { aesCmac, macEquals } from "./cmac.js";
import { debugQuote, FileCryptoError, type FileCryptoFailure } from "./errors.js";
import {
  classifyPosition,
  DATA_PER_MHT,
  dataEntry,
  dataNodePosition,
  ENTRY_SIZE,
  FILE_ID,
  HEAD_SIZE,
  HEADER,
  KEY_ID_SIZE,
  MAJOR_VERSION,
  MAX_FILE_NAME_BYTES,
  META,
  MINOR_VERSION,
  MODE_USER_KEY,
  mhtEntry,
  mhtNodePosition,
  NODE_SIZE,
  shapeOf,
} from "./protected-layout.js";

const ZERO_IV = Buffer.alloc(12);
const GMAC_SIZE = 16;
const KEY_SIZE = 16;
const METADATA_KEY_LABEL = "SGX-PROTECTED-FS-METADATA-KEY";

/** `K_meta = AES-CMAC(user_key, B)` with the 120-byte derivation block of the protected-file format. */
export function deriveMetadataKey(userKey: Uint8Array, keyId: Uint8Array): Buffer {
  if (userKey.length !== KEY_SIZE) throw new RangeError("teaclave-file-128 user key must be 16 bytes");
  if (keyId.length !== KEY_ID_SIZE) throw new RangeError("teaclave-file-128 key id must be 32 bytes");
  const b = Buffer.alloc(120);
  b.writeUInt32LE(1, 0);
  b.write(METADATA_KEY_LABEL, 4, "ascii");
  b.writeBigUInt64LE(0n, 72);
  b.set(keyId, 80);
  b.writeUInt32LE(0x80, 112);
  return aesCmac(userKey, b);
}

/** Every node and the metadata use AES-128-GCM with a zero IV and no AAD; keys are single-use. */
function seal(key: Uint8Array, plaintext: Uint8Array): { ciphertext: Buffer; gmac: Buffer } {
  const c = createCipheriv("aes-128-gcm", key, ZERO_IV, { authTagLength: GMAC_SIZE });
  const ciphertext = c.update(plaintext);
  c.final();
  return { ciphertext, gmac: c.getAuthTag() };
}

function open(key: Uint8Array, ciphertext: Uint8Array, gmac: Uint8Array): Buffer | null {
  const d = createDecipheriv("aes-128-gcm", key, ZERO_IV, { authTagLength: GMAC_SIZE });
  d.setAuthTag(gmac);
  const plaintext = d.update(ciphertext);
  try {
    d.final();
  } catch {
    return null;
  }
  return plaintext;
}

/** Random node keys drawn in batches: one syscall per 256 nodes instead of one per node. */
class KeyPool {
  #pool = Buffer.alloc(0);
  #at = 0;
  next(): Buffer {
    if (this.#at === this.#pool.length) {
      this.#pool = randomBytes(KEY_SIZE * 256);
      this.#at = 0;
    }
    const k = this.#pool.subarray(this.#at, this.#at + KEY_SIZE);
    this.#at += KEY_SIZE;
    return k;
  }
}

/** A destination that accepts writes at absolute byte positions (a file handle, a buffer). */
export interface PositionalSink {
  write(data: Uint8Array, position: number): Promise<void> | void;
}

function encodeFileName(fileName: string): Buffer {
  const bytes = Buffer.from(fileName, "utf8");
  if (bytes.length === 0 || bytes.length > MAX_FILE_NAME_BYTES || bytes.includes(0)) {
    throw new FileCryptoError(
      "invalid-argument",
      `teaclave-file-128 file name must be 1..${MAX_FILE_NAME_BYTES} bytes without NUL`,
    );
  }
  return bytes;
}

export interface ProtectedFileWriterOptions {
  /** Basename embedded in the metadata; readers opening the file under another name refuse it. */
  fileName: string;
}

/**
 * Writes a `teaclave-file-128` file node by node. Data nodes are encrypted and written as soon as
 * they fill; tree nodes and the metadata need their children's tags, so they are kept in memory
 * (one 4 KiB MHT node per 384 KiB of content, about 1 %) and written by `close()`.
 */
export class ProtectedFileWriter {
  readonly #sink: PositionalSink;
  readonly #userKey: Buffer;
  readonly #fileName: Buffer;
  readonly #keys = new KeyPool();
  readonly #head = Buffer.alloc(HEAD_SIZE);
  readonly #mht: Buffer[] = [];
  #node = Buffer.alloc(NODE_SIZE);
  #fill = 0;
  #dataIndex = 0;
  #size = 0;
  #closed = false;
  /** Contiguous encrypted nodes waiting to be written in one call. */
  #pending: Buffer[] = [];
  #pendingPosition = -1;
  #pendingBytes = 0;

  constructor(sink: PositionalSink, userKey: Uint8Array, opts: ProtectedFileWriterOptions) {
    if (userKey.length !== KEY_SIZE) {
      throw new FileCryptoError("invalid-argument", "teaclave-file-128 user key must be 16 bytes");
    }
    this.#sink = sink;
    this.#userKey = Buffer.from(userKey);
    this.#fileName = encodeFileName(opts.fileName);
  }

  /** Content bytes accepted so far. */
  get size(): number {
    return this.#size;
  }

  async write(chunk: Uint8Array): Promise<void> {
    if (this.#closed) throw new Error("ProtectedFileWriter used after close()");
    let at = 0;
    if (this.#size < HEAD_SIZE) {
      const n = Math.min(HEAD_SIZE - this.#size, chunk.length);
      this.#head.set(chunk.subarray(0, n), this.#size);
      this.#size += n;
      at = n;
    }
    while (at < chunk.length) {
      const n = Math.min(NODE_SIZE - this.#fill, chunk.length - at);
      this.#node.set(chunk.subarray(at, at + n), this.#fill);
      this.#fill += n;
      this.#size += n;
      at += n;
      if (this.#fill === NODE_SIZE) await this.#emitDataNode();
    }
  }

  async #emitDataNode(): Promise<void> {
    const d = this.#dataIndex++;
    const key = this.#keys.next();
    const { ciphertext, gmac } = seal(key, this.#node);
    const { mht, offset } = dataEntry(d);
    if (this.#mht[mht] === undefined) this.#mht[mht] = Buffer.alloc(NODE_SIZE);
    const parent = this.#mht[mht]!;
    parent.set(key, offset);
    parent.set(gmac, offset + KEY_SIZE);
    this.#node.fill(0);
    this.#fill = 0;
    await this.#queue(ciphertext, dataNodePosition(d) * NODE_SIZE);
  }

  async #queue(data: Buffer, position: number): Promise<void> {
    if (this.#pendingBytes > 0 && this.#pendingPosition + this.#pendingBytes !== position)
      await this.#flush();
    if (this.#pendingBytes === 0) this.#pendingPosition = position;
    this.#pending.push(data);
    this.#pendingBytes += data.length;
    if (this.#pendingBytes >= 1 << 20) await this.#flush();
  }

  async #flush(): Promise<void> {
    if (this.#pendingBytes === 0) return;
    const data = this.#pending.length === 1 ? this.#pending[0]! : Buffer.concat(this.#pending);
    const position = this.#pendingPosition;
    this.#pending = [];
    this.#pendingBytes = 0;
    await this.#sink.write(data, position);
  }

  /** Writes the tree and the metadata; returns the file's cmac (the metadata GMAC) and size. */
  async close(): Promise<{ cmac: Buffer; size: number }> {
    if (this.#closed) throw new Error("ProtectedFileWriter closed twice");
    this.#closed = true;
    if (this.#fill > 0) await this.#emitDataNode();

    const meta = Buffer.alloc(META.total);
    meta.set(this.#fileName, META.fileName);
    meta.writeBigUInt64LE(BigInt(this.#size), META.size);
    meta.set(this.#head, META.head);

    // Children have higher numbers than their parents, so sealing from the last MHT node down
    // fills every parent's entries before the parent itself is sealed.
    for (let m = this.#mht.length - 1; m >= 0; m--) {
      const key = this.#keys.next();
      const { ciphertext, gmac } = seal(key, this.#mht[m]!);
      if (m === 0) {
        meta.set(key, META.rootKey);
        meta.set(gmac, META.rootGmac);
      } else {
        const { mht, offset } = mhtEntry(m);
        this.#mht[mht]!.set(key, offset);
        this.#mht[mht]!.set(gmac, offset + KEY_SIZE);
      }
      await this.#queue(ciphertext, mhtNodePosition(m) * NODE_SIZE);
    }
    await this.#flush();

    const keyId = randomBytes(KEY_ID_SIZE);
    const { ciphertext, gmac } = seal(deriveMetadataKey(this.#userKey, keyId), meta);
    const header = Buffer.alloc(NODE_SIZE);
    header.writeBigUInt64LE(FILE_ID, HEADER.fileId);
    header[HEADER.major] = MAJOR_VERSION;
    header[HEADER.minor] = MINOR_VERSION;
    header[HEADER.mode] = MODE_USER_KEY;
    header.set(keyId, HEADER.keyId);
    header.set(gmac, HEADER.gmac);
    header.set(ciphertext, HEADER.encrypted);
    await this.#sink.write(header, 0);
    this.#userKey.fill(0);
    return { cmac: Buffer.from(gmac), size: this.#size };
  }
}

export interface ProtectedFileReadOptions {
  /**
   * The basename the file is opened under. When given, the name stored in the metadata must equal
   * it (legacy refuses a renamed file). Omit to accept any stored name.
   */
  fileName?: string;
  /** The registered cmac; when given, the metadata GMAC must equal it (`Corrupted input file`). */
  expectedCmac?: Uint8Array;
  /** Path used in error texts. */
  path?: string;
}

/** What node 0 says about the file. */
export interface ProtectedFileInfo {
  size: number;
  cmac: Buffer;
  fileName: string;
}

/**
 * Push decoder: give it the file's 4096-byte nodes in physical order, get back content bytes.
 * Each node is authenticated with the key/tag from its parent before anything is returned, so
 * output never contains unverified bytes. Only tree nodes that still have unread children are
 * kept in memory.
 */
export class ProtectedFileDecoder {
  readonly #userKey: Buffer;
  readonly #opts: ProtectedFileReadOptions;
  readonly #mht = new Map<number, Buffer>();
  #next = 0;
  #total = 0;
  #mhtNodes = 0;
  #dataNodes = 0;
  #rootKey = Buffer.alloc(0);
  #rootGmac = Buffer.alloc(0);
  #info: ProtectedFileInfo | undefined;

  constructor(userKey: Uint8Array, opts: ProtectedFileReadOptions = {}) {
    if (userKey.length !== KEY_SIZE) {
      throw new FileCryptoError("invalid-argument", "teaclave-file-128 user key must be 16 bytes");
    }
    this.#userKey = Buffer.from(userKey);
    this.#opts = opts;
  }

  /** Available after the first node. */
  get info(): ProtectedFileInfo | undefined {
    return this.#info;
  }

  /** True once every node the metadata accounts for has been decoded. */
  get complete(): boolean {
    return this.#info !== undefined && this.#next === this.#total;
  }

  #fail(reason: FileCryptoFailure, what: string): never {
    throw new FileCryptoError(reason, `${what}: ${debugQuote(this.#opts.path ?? "")}`);
  }

  /** Decodes the next node (exactly 4096 bytes); returns the content bytes it carries. */
  pushNode(node: Uint8Array): Buffer {
    if (node.length !== NODE_SIZE) throw new RangeError("protected-file nodes are 4096 bytes");
    const p = this.#next;
    if (p > 0 && p >= this.#total) this.#fail("trailing-data", "Protected file has data after its last node");
    const where = classifyPosition(p);
    let out: Buffer;
    if (where.kind === "meta") out = this.#metadata(Buffer.from(node.buffer, node.byteOffset, node.length));
    else if (where.kind === "mht") out = this.#mhtNode(where.m, node);
    else out = this.#dataNode(where.d, node);
    this.#next++;
    return out;
  }

  #metadata(node: Buffer): Buffer {
    const zero = (from: number, to: number) => node.subarray(from, to).every((b) => b === 0);
    if (node.readBigUInt64LE(HEADER.fileId) !== FILE_ID) this.#fail("bad-header", "Not a protected file");
    if (node[HEADER.major] !== MAJOR_VERSION) this.#fail("bad-header", "Unsupported protected file version");
    if (node[HEADER.updateFlag] !== 0) this.#fail("bad-header", "Protected file has an interrupted update");
    if (node[HEADER.mode] !== MODE_USER_KEY)
      this.#fail("bad-header", "Protected file is not in user-key mode");
    // Not authenticated by the format, so tampering here would go unnoticed; every writer
    // (legacy included) leaves these fields zero, and refusing other values makes a flipped
    // byte anywhere in the file detectable.
    if (
      node[HEADER.minor] !== MINOR_VERSION ||
      !zero(HEADER.keyPolicy, HEADER.keyId) ||
      !zero(HEADER.cpuSvn, HEADER.gmac) ||
      !zero(HEADER.padding, NODE_SIZE)
    ) {
      this.#fail("bad-header", "Unexpected value in protected file header");
    }
    const keyId = node.subarray(HEADER.keyId, HEADER.keyId + KEY_ID_SIZE);
    const gmac = Buffer.from(node.subarray(HEADER.gmac, HEADER.gmac + GMAC_SIZE));
    const metaKey = deriveMetadataKey(this.#userKey, keyId);
    const meta = open(metaKey, node.subarray(HEADER.encrypted, HEADER.encrypted + META.total), gmac);
    if (meta === null)
      this.#fail("metadata-auth", "Protected file metadata does not authenticate (wrong key?)");

    const nameField = meta.subarray(META.fileName, META.fileName + META.fileNameSize);
    const nul = nameField.indexOf(0);
    if (nul < 0) this.#fail("bad-header", "Protected file name is not terminated");
    const storedName = nameField.subarray(0, nul);
    const wanted = this.#opts.fileName;
    if (wanted !== undefined && !storedName.equals(Buffer.from(wanted, "utf8"))) {
      this.#fail("name-mismatch", "Protected file name does not match");
    }
    const expected = this.#opts.expectedCmac;
    if (expected !== undefined && !macEquals(gmac, expected)) this.#fail("corrupted", "Corrupted input file");

    const size64 = meta.readBigUInt64LE(META.size);
    if (size64 > BigInt(Number.MAX_SAFE_INTEGER))
      this.#fail("bad-header", "Protected file size out of range");
    const size = Number(size64);
    const shape = shapeOf(size);
    this.#total = shape.totalNodes;
    this.#mhtNodes = shape.mhtNodes;
    this.#dataNodes = shape.dataNodes;
    this.#rootKey = Buffer.from(meta.subarray(META.rootKey, META.rootKey + KEY_SIZE));
    this.#rootGmac = Buffer.from(meta.subarray(META.rootGmac, META.rootGmac + GMAC_SIZE));
    this.#info = { size, cmac: gmac, fileName: storedName.toString("utf8") };
    return Buffer.from(meta.subarray(META.head, META.head + Math.min(size, HEAD_SIZE)));
  }

  #entry(parent: Buffer | undefined, offset: number): { key: Buffer; gmac: Buffer } {
    if (parent === undefined) throw new Error("protected-file decoder lost a parent node");
    return {
      key: parent.subarray(offset, offset + KEY_SIZE),
      gmac: parent.subarray(offset + KEY_SIZE, offset + ENTRY_SIZE),
    };
  }

  #mhtNode(m: number, node: Uint8Array): Buffer {
    let key: Buffer;
    let gmac: Buffer;
    if (m === 0) {
      key = this.#rootKey;
      gmac = this.#rootGmac;
    } else {
      const at = mhtEntry(m);
      ({ key, gmac } = this.#entry(this.#mht.get(at.mht), at.offset));
      // The last of a parent's 32 children has now been reached.
      if ((m - 1) % 32 === 31) this.#mht.delete(at.mht);
    }
    const plain = open(key, node, gmac);
    if (plain === null) this.#fail("node-auth", `Protected file tree node ${m} does not authenticate`);
    this.#mht.set(m, plain);
    return Buffer.alloc(0);
  }

  #dataNode(d: number, node: Uint8Array): Buffer {
    const at = dataEntry(d);
    const { key, gmac } = this.#entry(this.#mht.get(at.mht), at.offset);
    const plain = open(key, node, gmac);
    if (plain === null) this.#fail("node-auth", `Protected file data node ${d} does not authenticate`);
    const lastOfMht = d % DATA_PER_MHT === DATA_PER_MHT - 1 || d === this.#dataNodes - 1;
    if (lastOfMht && 32 * at.mht + 1 >= this.#mhtNodes) this.#mht.delete(at.mht);
    const remaining = this.#info!.size - HEAD_SIZE - d * NODE_SIZE;
    return remaining >= NODE_SIZE ? plain : plain.subarray(0, remaining);
  }

  /** Call at end of input with the count of bytes left over that did not form a whole node. */
  finish(leftover = 0): ProtectedFileInfo {
    if (!this.complete) this.#fail("truncated", "Protected file is truncated");
    if (leftover > 0) this.#fail("trailing-data", "Protected file has data after its last node");
    return this.#info!;
  }
}

/** Regroups a byte stream into 4096-byte nodes; reports the size of an incomplete last piece. */
export async function* nodesOf(
  source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  leftover: { bytes: number },
): AsyncGenerator<Buffer> {
  let partial = Buffer.alloc(NODE_SIZE);
  let fill = 0;
  for await (const chunk of source) {
    let at = 0;
    if (fill > 0) {
      const n = Math.min(NODE_SIZE - fill, chunk.length);
      partial.set(chunk.subarray(0, n), fill);
      fill += n;
      at = n;
      if (fill < NODE_SIZE) continue;
      yield partial;
      partial = Buffer.alloc(NODE_SIZE);
      fill = 0;
    }
    const buf = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length);
    while (chunk.length - at >= NODE_SIZE) {
      yield buf.subarray(at, at + NODE_SIZE);
      at += NODE_SIZE;
    }
    if (at < chunk.length) {
      partial.set(chunk.subarray(at), 0);
      fill = chunk.length - at;
    }
  }
  leftover.bytes = fill;
}

/**
 * Reads a `teaclave-file-128` stream node by node and yields authenticated content. Memory use is
 * constant apart from the few tree nodes that still have unread children. Throws
 * `FileCryptoError` on any integrity or format failure, including truncation.
 */
export async function* readProtectedFile(
  source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  userKey: Uint8Array,
  opts: ProtectedFileReadOptions = {},
  onInfo?: (info: ProtectedFileInfo) => void,
): AsyncGenerator<Buffer> {
  const decoder = new ProtectedFileDecoder(userKey, opts);
  const leftover = { bytes: 0 };
  for await (const node of nodesOf(source, leftover)) {
    const out = decoder.pushNode(node);
    if (out.length > 0) yield out;
  }
  const info = decoder.finish(leftover.bytes);
  onInfo?.(info);
}
