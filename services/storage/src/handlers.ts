import { cloisterError, type Logger } from "@cloister/core";
import { Empty, type extensions, type storage } from "@cloister/proto";
import { unary } from "@cloister/rpc";
import {
  type BatchOp,
  claimWithTaskRecord,
  hasKeyWatches,
  type KvStore,
  StorageIntegrityError,
  waitForChange,
} from "@cloister/storage";
import type * as grpc from "@grpc/grpc-js";

/** Longest long-poll a client may ask for. */
export const MAX_DEQUEUE_WAIT_MS = 30_000;

/**
 * Every storage failure reaches callers as 13 `invalid response` (the legacy proxy collapsed
 * them), except that an integrity failure is logged loudly first.
 */
function invalidResponse(log: Logger) {
  return (e: unknown): never => {
    if (e instanceof StorageIntegrityError) log.error({ err: e }, "stored value failed its integrity check");
    else log.warn({ err: e }, "storage operation failed");
    throw cloisterError("STORAGE_INVALID_RESPONSE");
  };
}

export function teaclaveStorageHandlers(store: KvStore, log: Logger): storage.TeaclaveStorageServer {
  const fail = invalidResponse(log);
  return {
    get: unary(async (req: storage.GetRequest) => {
      const value = await store.get(req.key).catch(fail);
      if (value === undefined) throw cloisterError("STORAGE_INVALID_RESPONSE");
      return { value };
    }, log),
    put: unary(async (req: storage.PutRequest) => {
      await store.put(req.key, req.value).catch(fail);
      return Empty.fromPartial({});
    }, log),
    delete: unary(async (req: storage.DeleteRequest) => {
      await store.delete(req.key).catch(fail);
      return Empty.fromPartial({});
    }, log),
    enqueue: unary(async (req: storage.EnqueueRequest) => {
      await store.enqueue(req.key, req.value).catch(fail);
      return Empty.fromPartial({});
    }, log),
    dequeue: unary(async (req: storage.DequeueRequest) => {
      const value = await store.dequeue(req.key).catch(fail);
      if (value === undefined) throw cloisterError("STORAGE_INVALID_RESPONSE");
      return { value };
    }, log),
    getKeysByPrefix: unary(async (req: storage.GetKeysByPrefixRequest) => {
      // Only keys that really carry the prefix: the legacy "first key" leak is fixed.
      return { keys: await store.keysByPrefix(req.prefix).catch(fail) };
    }, log),
  };
}

const toOps = (writes: extensions.StorageWrite[]): BatchOp[] =>
  writes.map((w) =>
    w.delete
      ? ({ type: "del", key: w.key } as const)
      : ({ type: "put", key: w.key, value: w.value } as const),
  );

export function cloisterStorageHandlers(store: KvStore, log: Logger): extensions.CloisterStorageServer {
  const fail = invalidResponse(log);
  return {
    batch: unary(async (req: extensions.BatchRequest) => {
      await store.batch(toOps(req.writes)).catch(fail);
      return Empty.fromPartial({});
    }, log),
    enqueueWith: unary(async (req: extensions.EnqueueWithRequest) => {
      await store.enqueueWith(req.key, req.value, toOps(req.writes)).catch(fail);
      return Empty.fromPartial({});
    }, log),
    dequeueInto: unary(async (req: extensions.DequeueIntoRequest) => {
      // No put-back for a caller that hung up: the element is safe under target_key.
      const waitMs = Math.min(req.waitMs, MAX_DEQUEUE_WAIT_MS);
      const none = { recordFound: false, record: Buffer.alloc(0) };
      if (req.withTaskRecord) {
        // The claimed task's record in the same answer: the scheduler's next step reads it.
        const claimed = await claimWithTaskRecord(store, req.key, req.targetKey, waitMs).catch(fail);
        if (!claimed) return { found: false, value: Buffer.alloc(0), ...none };
        const { element, record } = claimed;
        return record === undefined
          ? { found: true, value: element, ...none }
          : { found: true, value: element, recordFound: true, record };
      }
      const value = await store.dequeueInto(req.key, req.targetKey, waitMs).catch(fail);
      return value === undefined
        ? { found: false, value: Buffer.alloc(0), ...none }
        : { found: true, value, ...none };
    }, log),
    waitForChange: unary(async (req: extensions.WaitForChangeRequest) => {
      if (!hasKeyWatches(store)) throw cloisterError("STORAGE_NO_KEY_WATCH");
      const waitMs = Math.min(req.waitMs, MAX_DEQUEUE_WAIT_MS);
      const state = await waitForChange(store, req.key, Buffer.from(req.knownDigest), waitMs).catch(fail);
      return state
        ? {
            changed: true,
            found: state.value !== undefined,
            value: state.value ?? Buffer.alloc(0),
            digest: state.digest,
          }
        : { changed: false, found: false, value: Buffer.alloc(0), digest: Buffer.alloc(0) };
    }, log),
    getOptional: unary(async (req: extensions.GetOptionalRequest) => {
      const value = await store.get(req.key).catch(fail);
      return value === undefined ? { found: false, value: Buffer.alloc(0) } : { found: true, value };
    }, log),
    dequeueWait: unary(
      async (req: extensions.DequeueWaitRequest, call: grpc.ServerUnaryCall<unknown, unknown>) => {
        const waitMs = Math.min(req.waitMs, MAX_DEQUEUE_WAIT_MS);
        const value = await store.dequeueWait(req.key, waitMs).catch(fail);
        const none = { recordFound: false, record: Buffer.alloc(0) };
        if (value !== undefined && call.cancelled) {
          // The caller is gone: put the element back rather than lose it (it goes to the tail).
          await store.enqueue(req.key, value).catch(fail);
          return { found: false, value: Buffer.alloc(0), ...none };
        }
        return value === undefined
          ? { found: false, value: Buffer.alloc(0), ...none }
          : { found: true, value, ...none };
      },
      log,
    ),
  };
}
