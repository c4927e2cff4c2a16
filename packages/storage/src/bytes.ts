import { invalidArgument } from "./errors.js";
import type { BatchOp } from "./types.js";

/** Accept any Uint8Array (a Buffer is one) and view it as a Buffer without copying. */
export function bytes(what: string, v: unknown): Buffer {
  if (Buffer.isBuffer(v)) return v;
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  throw invalidArgument(`${what} must be a Buffer`);
}

/**
 * The smallest key greater than every key starting with `prefix`, or undefined when no such
 * bound exists (empty prefix or all 0xff): increment the last byte that is not 0xff and drop
 * what follows it.
 */
export function prefixEnd(prefix: Buffer): Buffer | undefined {
  for (let i = prefix.length - 1; i >= 0; i--) {
    const b = prefix[i] as number;
    if (b !== 0xff) {
      const end = Buffer.from(prefix.subarray(0, i + 1));
      end[i] = b + 1;
      return end;
    }
  }
  return undefined;
}

export function validateBatch(ops: unknown): BatchOp[] {
  if (!Array.isArray(ops)) throw invalidArgument("batch operations must be an array");
  return ops.map((op: unknown, i) => {
    const o = op as { type?: unknown; key?: unknown; value?: unknown } | null;
    if (o?.type === "put")
      return {
        type: "put",
        key: bytes(`batch[${i}].key`, o.key),
        value: bytes(`batch[${i}].value`, o.value),
      };
    if (o?.type === "del") return { type: "del", key: bytes(`batch[${i}].key`, o.key) };
    throw invalidArgument(`batch[${i}].type must be "put" or "del"`);
  });
}

export function validateTimeout(timeoutMs: unknown): number {
  if (typeof timeoutMs !== "number" || !Number.isFinite(timeoutMs) || timeoutMs < 0) {
    throw invalidArgument("timeoutMs must be a finite number >= 0");
  }
  return timeoutMs;
}

/** Keep only the last operation per key, in first-occurrence order (for backends that reject duplicates). */
export function lastOpPerKey(ops: BatchOp[]): BatchOp[] {
  const byKey = new Map<string, BatchOp>();
  for (const op of ops) {
    const k = op.key.toString("latin1");
    byKey.delete(k);
    byKey.set(k, op);
  }
  return [...byKey.values()];
}
