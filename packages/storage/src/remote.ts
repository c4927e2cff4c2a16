import { extensions, storage } from "@cloister/proto";
import { callUnary, createClient } from "@cloister/rpc";
import type * as grpc from "@grpc/grpc-js";
import type { KeyState } from "./change.js";
import type { ClaimedTask, ClaimWithRecordBackend } from "./handoff.js";
import type { BatchOp, KvStore } from "./types.js";

/** Longest single long-poll asked of the storage service; longer waits are split. */
const MAX_WAIT_MS = 25_000;
/** Services start in any order and restart: calls wait this long for the storage service. */
const CALL = { deadlineMs: 30_000, waitForReady: true } as const;

/**
 * The storage service seen as a KvStore: what management and the scheduler use. Values cross the
 * wire in plaintext inside mutually attested TLS; the service seals them before they reach disk.
 */
const toWrites = (ops: BatchOp[]) =>
  ops.map((op) =>
    op.type === "put"
      ? { key: op.key, value: op.value, delete: false }
      : { key: op.key, value: Buffer.alloc(0), delete: true },
  );

/**
 * Repeats a server-side long poll in steps of at most MAX_WAIT_MS (so no single call outlives a
 * proxy's or the server's own bound) until `step` answers or `timeoutMs` has passed.
 */
async function longPoll<T>(
  timeoutMs: number,
  signal: AbortSignal | undefined,
  step: (waitMs: number) => Promise<T | undefined>,
): Promise<T | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    signal?.throwIfAborted();
    const answer = await step(Math.max(0, Math.min(MAX_WAIT_MS, deadline - Date.now())));
    if (answer !== undefined) return answer;
    if (Date.now() >= deadline) return undefined;
  }
}

export class RemoteKvStore implements KvStore, ClaimWithRecordBackend {
  private readonly teaclave: storage.TeaclaveStorageClient;
  private readonly ext: extensions.CloisterStorageClient;

  constructor(address: string, credentials: grpc.ChannelCredentials) {
    this.teaclave = createClient(storage.TeaclaveStorageClient, address, credentials);
    this.ext = createClient(extensions.CloisterStorageClient, address, credentials);
  }

  async get(key: Buffer): Promise<Buffer | undefined> {
    const r = await callUnary(this.ext, "getOptional", { key }, CALL);
    return r.found ? Buffer.from(r.value) : undefined;
  }

  async put(key: Buffer, value: Buffer): Promise<void> {
    await callUnary(this.teaclave, "put", { key, value }, CALL);
  }

  async delete(key: Buffer): Promise<void> {
    await callUnary(this.teaclave, "delete", { key }, CALL);
  }

  async keysByPrefix(prefix: Buffer): Promise<Buffer[]> {
    const r = await callUnary(this.teaclave, "getKeysByPrefix", { prefix }, CALL);
    return r.keys.map((k) => Buffer.from(k));
  }

  async batch(ops: BatchOp[]): Promise<void> {
    await callUnary(this.ext, "batch", { writes: toWrites(ops) }, CALL);
  }

  async enqueueWith(queue: Buffer, value: Buffer, ops: BatchOp[]): Promise<void> {
    await callUnary(this.ext, "enqueueWith", { key: queue, value, writes: toWrites(ops) }, CALL);
  }

  async dequeueInto(
    queue: Buffer,
    key: Buffer,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<Buffer | undefined> {
    return (await this.claim(queue, key, timeoutMs, false, signal))?.element;
  }

  /** dequeueInto, answered with the claimed task's record read by the service right after it. */
  dequeueIntoWithTaskRecord(
    queue: Buffer,
    key: Buffer,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<ClaimedTask | undefined> {
    return this.claim(queue, key, timeoutMs, true, signal);
  }

  /** Long-polls DequeueInto in steps of at most MAX_WAIT_MS until an element or the deadline. */
  private async claim(
    queue: Buffer,
    key: Buffer,
    timeoutMs: number,
    withTaskRecord: boolean,
    signal?: AbortSignal,
  ): Promise<ClaimedTask | undefined> {
    // An answer lost on the way (abort, crash, deadline) leaves the element under `key`, where
    // the caller's recovery finds it: nothing to put back here.
    return longPoll(timeoutMs, signal, async (waitMs) => {
      const r = await callUnary(
        this.ext,
        "dequeueInto",
        { key: queue, targetKey: key, waitMs, withTaskRecord },
        { deadlineMs: waitMs + 10_000, waitForReady: true, ...(signal ? { signal } : {}) },
      );
      if (!r.found) return undefined;
      return {
        element: Buffer.from(r.value),
        record: withTaskRecord && r.recordFound ? Buffer.from(r.record) : undefined,
      };
    });
  }

  /**
   * The value under `key` once it differs from the one whose digest is `known` (see
   * waitForChange), or undefined when `timeoutMs` passes without a change.
   */
  async waitForChange(
    key: Buffer,
    known: Buffer,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<KeyState | undefined> {
    return longPoll(timeoutMs, signal, async (waitMs) => {
      const r = await callUnary(
        this.ext,
        "waitForChange",
        { key, knownDigest: known, waitMs },
        { deadlineMs: waitMs + 10_000, waitForReady: true, ...(signal ? { signal } : {}) },
      );
      if (!r.changed) return undefined;
      return { value: r.found ? Buffer.from(r.value) : undefined, digest: Buffer.from(r.digest) };
    });
  }

  async enqueue(queue: Buffer, value: Buffer): Promise<void> {
    await callUnary(this.teaclave, "enqueue", { key: queue, value }, CALL);
  }

  async dequeue(queue: Buffer): Promise<Buffer | undefined> {
    const r = await callUnary(this.ext, "dequeueWait", { key: queue, waitMs: 0 }, CALL);
    return r.found ? Buffer.from(r.value) : undefined;
  }

  async dequeueWait(queue: Buffer, timeoutMs: number, signal?: AbortSignal): Promise<Buffer | undefined> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      signal?.throwIfAborted();
      const waitMs = Math.max(0, Math.min(MAX_WAIT_MS, deadline - Date.now()));
      // Abort cancels the long poll. The service puts back an element it dequeued for a cancelled
      // call; if the answer crossed the cancel on the wire, the element is put back here instead.
      const r = await callUnary(
        this.ext,
        "dequeueWait",
        { key: queue, waitMs },
        { deadlineMs: waitMs + 10_000, waitForReady: true, ...(signal ? { signal } : {}) },
      );
      if (r.found && signal?.aborted) {
        await this.enqueue(queue, Buffer.from(r.value));
        signal.throwIfAborted();
      }
      if (r.found) return Buffer.from(r.value);
      if (Date.now() >= deadline) return undefined;
    }
  }

  async close(): Promise<void> {
    this.teaclave.close();
    this.ext.close();
  }
}
