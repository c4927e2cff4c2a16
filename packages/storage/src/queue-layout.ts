import { StorageError } from "./errors.js";

/**
 * The legacy queue layout: FIFO `K` keeps u32 little-endian counters
 * at `queue-K-head` and `queue-K-tail` (missing = 0, empty when equal) and its elements at
 * `queue-K-` + the 4-byte little-endian slot index.
 */
export interface QueueKeys {
  head: Buffer;
  tail: Buffer;
  element(index: number): Buffer;
}

export function queueKeys(queue: Buffer): QueueKeys {
  const base = Buffer.concat([Buffer.from("queue-"), queue, Buffer.from("-")]);
  return {
    head: Buffer.concat([base, Buffer.from("head")]),
    tail: Buffer.concat([base, Buffer.from("tail")]),
    element(index: number): Buffer {
      const k = Buffer.alloc(base.length + 4);
      base.copy(k);
      k.writeUInt32LE(index >>> 0, base.length);
      return k;
    },
  };
}

// In the legacy layout the element keys of these two slots are byte-for-byte the head and
// tail counter keys ("head"/"tail" read as u32 LE). Skipping them keeps the counters safe once
// a queue has seen ~1.7 billion elements; no other slot changes.
const HEAD_SLOT = Buffer.from("head").readUInt32LE(0);
const TAIL_SLOT = Buffer.from("tail").readUInt32LE(0);

export function nextSlot(index: number): number {
  let n = (index + 1) >>> 0;
  while (n === HEAD_SLOT || n === TAIL_SLOT) n = (n + 1) >>> 0;
  return n;
}

export function encodeCounter(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0, 0);
  return b;
}

export function decodeCounter(v: Buffer | undefined | null): number {
  if (v === undefined || v === null || v.length === 0) return 0;
  if (v.length !== 4) throw new StorageError("queue counter is corrupt");
  return v.readUInt32LE(0);
}

export const queueFull = (): StorageError => new StorageError("queue is full");
