import { createHash } from "node:crypto";
import { bytes } from "./bytes.js";
import type { KeyWatches, KvStore } from "./types.js";
import { waitFor } from "./wait.js";

/** What a reader of one key sees: the value (undefined when absent) and its digest. */
export interface KeyState {
  value: Buffer | undefined;
  /** Opaque: SHA-256 over a presence byte and the value, so "absent" and "empty" differ. */
  digest: Buffer;
}

const ABSENT = Buffer.from([0]);
const PRESENT = Buffer.from([1]);

export function digestOf(value: Buffer | undefined): Buffer {
  const h = createHash("sha256");
  if (value === undefined) h.update(ABSENT);
  else h.update(PRESENT).update(value);
  return h.digest();
}

/**
 * The value under `key` once its digest differs from `known` (at once when `known` is empty or
 * already stale), or undefined when `timeoutMs` passes with the value unchanged. The watch is
 * opened before the first read, so a write between the read and the wait is not missed.
 */
export async function waitForChange(
  store: KvStore & KeyWatches,
  key: Buffer,
  known: Buffer,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<KeyState | undefined> {
  const k = bytes("key", key);
  const attempt = async (): Promise<KeyState | undefined> => {
    const value = await store.get(k);
    const digest = digestOf(value);
    return known.length === 0 || !digest.equals(known) ? { value, digest } : undefined;
  };
  if (known.length === 0) return attempt();
  return waitFor(attempt, () => store.watchKey(k), timeoutMs, [signal]);
}
