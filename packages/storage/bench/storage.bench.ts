// Throughput of the embedded backend with and without sealing, in operations per second.
// Imported by the root benchmark runner as `@cloister/storage/bench`.
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { LevelDbStore, SealedStore } from "../src/index.js";
import type { KvStore } from "../src/types.js";

export interface BenchStorageOptions {
  /** Operations per measurement (default 10,000). */
  ops?: number;
  /** Value size in bytes (default 1024). */
  valueBytes?: number;
  /** Directory for the temporary databases (default: the OS temp dir). */
  dir?: string;
}

const BATCH = 1000;

async function rate(n: number, fn: () => Promise<void>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return Math.round(n / ((performance.now() - t0) / 1000));
}

async function measure(store: KvStore, ops: number, valueBytes: number): Promise<Record<string, number>> {
  const value = randomBytes(valueBytes);
  // Random-order keys, as real ids are random UUIDs.
  const keys = Array.from({ length: ops }, (_, i) =>
    Buffer.from(`task-${randomBytes(8).toString("hex")}-${i}`),
  );
  const q = Buffer.from("bench-queue");
  const out: Record<string, number> = {};
  out.putsPerSec = await rate(ops, async () => {
    for (const k of keys) await store.put(k, value);
  });
  out.getsPerSec = await rate(ops, async () => {
    for (const k of keys) await store.get(k);
  });
  out.batchPutsPerSec = await rate(ops, async () => {
    for (let i = 0; i < ops; i += BATCH) {
      await store.batch(keys.slice(i, i + BATCH).map((key) => ({ type: "put" as const, key, value })));
    }
  });
  out.enqueueDequeuePerSec = await rate(ops, async () => {
    for (let i = 0; i < ops; i++) {
      await store.enqueue(q, value);
      await store.dequeue(q);
    }
  });
  return out;
}

/**
 * Puts/s, gets/s, batched puts/s and enqueue+dequeue pairs/s for plain and sealed LevelDB,
 * keyed `leveldb.<metric>` and `sealed-leveldb.<metric>`.
 */
export async function benchStorage(options: BenchStorageOptions = {}): Promise<Record<string, number>> {
  const ops = options.ops ?? 10_000;
  const valueBytes = options.valueBytes ?? 1024;
  const root = await mkdtemp(join(options.dir ?? tmpdir(), "cloister-bench-storage-"));
  const results: Record<string, number> = {};
  try {
    const variants: Array<[string, (s: LevelDbStore) => KvStore]> = [
      ["leveldb", (s) => s],
      ["sealed-leveldb", (s) => new SealedStore(s, randomBytes(32))],
    ];
    for (const [name, wrap] of variants) {
      const store = wrap(await LevelDbStore.open(join(root, name)));
      try {
        for (const [metric, v] of Object.entries(await measure(store, ops, valueBytes))) {
          results[`${name}.${metric}`] = v;
        }
      } finally {
        await store.close();
      }
    }
  } finally {
    await rm(root, { recursive: true, force: true });
  }
  return results;
}
