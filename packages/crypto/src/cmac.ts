import { createCipheriv, timingSafeEqual } from "node:crypto";

const BLOCK = 16;
const ZERO_BLOCK = Buffer.alloc(BLOCK);
/** Constant of the subkey doubling in GF(2^128) (RFC 4493 §2.3, `const_Rb`). */
const RB = 0x87;

function double(block: Buffer): Buffer {
  const out = Buffer.alloc(BLOCK);
  let carry = 0;
  for (let i = BLOCK - 1; i >= 0; i--) {
    const b = block[i]!;
    out[i] = ((b << 1) | carry) & 0xff;
    carry = b >>> 7;
  }
  // Branch-free so the subkey's top bit does not show in timing.
  out[BLOCK - 1] = out[BLOCK - 1]! ^ (RB & -(block[0]! >>> 7));
  return out;
}

/** The two CMAC subkeys K1, K2 of RFC 4493 §2.3. */
export function cmacSubkeys(key: Uint8Array): { k1: Buffer; k2: Buffer } {
  if (key.length !== 16) throw new RangeError("AES-CMAC key must be 16 bytes");
  const c = createCipheriv("aes-128-ecb", key, null);
  c.setAutoPadding(false);
  const l = Buffer.concat([c.update(ZERO_BLOCK), c.final()]);
  const k1 = double(l);
  return { k1, k2: double(k1) };
}

/** AES-128-CMAC (RFC 4493) of `message` under a 16-byte key; returns the full 16-byte tag. */
export function aesCmac(key: Uint8Array, message: Uint8Array): Buffer {
  const { k1, k2 } = cmacSubkeys(key);
  const n = Math.max(1, Math.ceil(message.length / BLOCK));
  const complete = message.length > 0 && message.length % BLOCK === 0;
  const m = Buffer.alloc(n * BLOCK);
  m.set(message);
  if (!complete) m[message.length] = 0x80;
  const sub = complete ? k1 : k2;
  const last = (n - 1) * BLOCK;
  for (let i = 0; i < BLOCK; i++) m[last + i] = m[last + i]! ^ sub[i]!;
  // CBC with a zero IV over the prepared message: the final block of the chain is the MAC.
  const c = createCipheriv("aes-128-cbc", key, ZERO_BLOCK);
  c.setAutoPadding(false);
  const out = Buffer.concat([c.update(m), c.final()]);
  return out.subarray(out.length - BLOCK);
}

/**
 * Constant-time equality for MACs and tags. Lengths are not secret, so a length mismatch returns
 * false at once.
 */
export function macEquals(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  return timingSafeEqual(a, b);
}
