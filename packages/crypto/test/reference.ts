/**
 * A second, deliberately naive implementation of the teaclave-file-128 format and AES-CMAC,
 * written straight from the legacy contract and RFC 4493 for cross-checking. It shares
 * no code with src/: whole buffers only, recursion instead of streaming, no reuse of layout
 * helpers. Test code only.
 */
import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";

export const FIXTURES = new URL("../../../../fixtures/teaclave/", import.meta.url).pathname;

function ecbBlock(key: Buffer, block: Buffer): Buffer {
  const c = createCipheriv("aes-128-ecb", key, null);
  c.setAutoPadding(false);
  return Buffer.concat([c.update(block), c.final()]);
}

function shiftLeft(b: Buffer): Buffer {
  const out = Buffer.alloc(16);
  for (let i = 0; i < 16; i++) out[i] = ((b[i]! << 1) & 0xff) | (i < 15 ? b[i + 1]! >> 7 : 0);
  if (b[0]! & 0x80) out[15] = out[15]! ^ 0x87;
  return out;
}

/** RFC 4493 AES-CMAC, block by block as the RFC's pseudo-code reads. */
export function refCmac(key: Buffer, msg: Buffer): Buffer {
  const k1 = shiftLeft(ecbBlock(key, Buffer.alloc(16)));
  const k2 = shiftLeft(k1);
  const blocks: Buffer[] = [];
  for (let i = 0; i < msg.length; i += 16) blocks.push(Buffer.from(msg.subarray(i, i + 16)));
  let last: Buffer;
  if (blocks.length > 0 && blocks[blocks.length - 1]!.length === 16) {
    last = blocks.pop()!.map((v, i) => v ^ k1[i]!) as Buffer;
  } else {
    const partial = blocks.pop() ?? Buffer.alloc(0);
    const padded = Buffer.alloc(16);
    partial.copy(padded);
    padded[partial.length] = 0x80;
    last = padded.map((v, i) => v ^ k2[i]!) as Buffer;
  }
  let x: Buffer = Buffer.alloc(16);
  for (const b of [...blocks, last]) x = ecbBlock(key, x.map((v, i) => v ^ b[i]!) as Buffer);
  return x;
}

function gcmSeal(key: Buffer, plain: Buffer): { ct: Buffer; tag: Buffer } {
  const c = createCipheriv("aes-128-gcm", key, Buffer.alloc(12));
  const ct = Buffer.concat([c.update(plain), c.final()]);
  return { ct, tag: c.getAuthTag() };
}

function gcmOpen(key: Buffer, ct: Buffer, tag: Buffer): Buffer {
  const d = createDecipheriv("aes-128-gcm", key, Buffer.alloc(12));
  d.setAuthTag(tag);
  return Buffer.concat([d.update(ct), d.final()]);
}

function metaKey(userKey: Buffer, keyId: Buffer): Buffer {
  const label = Buffer.alloc(64);
  label.write("SGX-PROTECTED-FS-METADATA-KEY");
  const counter = Buffer.alloc(4);
  counter.writeUInt32LE(1);
  const bits = Buffer.alloc(4);
  bits.writeUInt32LE(128);
  const b = Buffer.concat([counter, label, Buffer.alloc(4), Buffer.alloc(8), keyId, bits, Buffer.alloc(4)]);
  if (b.length !== 120) throw new Error("bad KDF block");
  return refCmac(userKey, b);
}

export interface RefDecoded {
  plaintext: Buffer;
  name: string;
  cmac: Buffer;
}

/** Whole-buffer reader. Throws on any failure. */
export function refDecode(file: Buffer, userKey: Buffer): RefDecoded {
  if (file.length < 4096 || file.length % 4096 !== 0) throw new Error("length");
  if (file.subarray(0, 8).toString("latin1") !== "ELIF_XGS") throw new Error("magic");
  if (file[8] !== 1 || file[10] !== 1 || file[11] !== 0) throw new Error("header");
  const tag = file.subarray(80, 96);
  const meta = gcmOpen(metaKey(userKey, file.subarray(16, 48)), file.subarray(96, 96 + 3372), tag);
  const name = meta.subarray(0, meta.indexOf(0)).toString();
  const size = Number(meta.readBigUInt64LE(260));
  const rootKey = meta.subarray(268, 284);
  const rootTag = meta.subarray(284, 300);
  const parts = [meta.subarray(300, 300 + Math.min(size, 3072))];
  const node = (p: number) => {
    if ((p + 1) * 4096 > file.length) throw new Error("missing node");
    return file.subarray(p * 4096, (p + 1) * 4096);
  };
  const mhtCache = new Map<number, Buffer>();
  const mht = (m: number): Buffer => {
    const hit = mhtCache.get(m);
    if (hit) return hit;
    let key = rootKey;
    let t = rootTag;
    if (m > 0) {
      const parent = mht(Math.floor((m - 1) / 32));
      const off = 96 * 32 + ((m - 1) % 32) * 32;
      key = parent.subarray(off, off + 16);
      t = parent.subarray(off + 16, off + 32);
    }
    const plain = gcmOpen(key, node(1 + 97 * m), t);
    mhtCache.set(m, plain);
    return plain;
  };
  let highest = 0;
  for (let d = 0; 3072 + d * 4096 < size; d++) {
    const parent = mht(Math.floor(d / 96));
    const off = (d % 96) * 32;
    const pos = d + 2 + Math.floor(d / 96);
    highest = pos;
    const plain = gcmOpen(parent.subarray(off, off + 16), node(pos), parent.subarray(off + 16, off + 32));
    parts.push(plain.subarray(0, Math.min(4096, size - 3072 - d * 4096)));
  }
  if (file.length !== (highest + 1) * 4096) throw new Error("file length does not match size");
  return { plaintext: Buffer.concat(parts), name, cmac: Buffer.from(tag) };
}

/** Whole-buffer writer. */
export function refEncode(plaintext: Buffer, userKey: Buffer, name: string): { file: Buffer; cmac: Buffer } {
  const size = plaintext.length;
  const dataCount = size > 3072 ? Math.ceil((size - 3072) / 4096) : 0;
  const mhtCount = dataCount > 0 ? Math.floor((dataCount - 1) / 96) + 1 : 0;
  const totalNodes = dataCount > 0 ? dataCount - 1 + 2 + Math.floor((dataCount - 1) / 96) + 1 : 1;
  const file = Buffer.alloc(totalNodes * 4096);
  const mhts = Array.from({ length: mhtCount }, () => Buffer.alloc(4096));
  for (let d = 0; d < dataCount; d++) {
    const chunk = Buffer.alloc(4096);
    plaintext.copy(chunk, 0, 3072 + d * 4096, Math.min(size, 3072 + (d + 1) * 4096));
    const key = randomBytes(16);
    const { ct, tag } = gcmSeal(key, chunk);
    ct.copy(file, (d + 2 + Math.floor(d / 96)) * 4096);
    const parent = mhts[Math.floor(d / 96)]!;
    key.copy(parent, (d % 96) * 32);
    tag.copy(parent, (d % 96) * 32 + 16);
  }
  let rootKey: Buffer = Buffer.alloc(16);
  let rootTag: Buffer = Buffer.alloc(16);
  for (let m = mhtCount - 1; m >= 0; m--) {
    const key = randomBytes(16);
    const { ct, tag } = gcmSeal(key, mhts[m]!);
    ct.copy(file, (1 + 97 * m) * 4096);
    if (m === 0) {
      rootKey = key;
      rootTag = tag;
    } else {
      const parent = mhts[Math.floor((m - 1) / 32)]!;
      const off = 96 * 32 + ((m - 1) % 32) * 32;
      key.copy(parent, off);
      tag.copy(parent, off + 16);
    }
  }
  const meta = Buffer.alloc(3372);
  meta.write(name, 0);
  meta.writeBigUInt64LE(BigInt(size), 260);
  rootKey.copy(meta, 268);
  rootTag.copy(meta, 284);
  plaintext.copy(meta, 300, 0, Math.min(size, 3072));
  const keyId = randomBytes(32);
  const { ct, tag } = gcmSeal(metaKey(userKey, keyId), meta);
  file.write("ELIF_XGS", 0, "latin1");
  file[8] = 1;
  file[10] = 1;
  keyId.copy(file, 16);
  tag.copy(file, 80);
  ct.copy(file, 96);
  return { file, cmac: tag };
}
