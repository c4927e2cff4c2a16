import { cloisterError, type Logger } from "@cloister/core";
import { Empty, type extensions, type storage } from "@cloister/proto";
import type { Handlers, RpcContext } from "@cloister/rpc";
import {
  type BatchOp,
  claimWithTaskRecord,
  hasKeyWatches,
  type KvStore,
  StorageIntegrityError,
  waitForChange,
} from "@cloister/storage";

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

export function teaclaveStorageHandlers(
  store: KvStore,
  log: Logger,
): Handlers<storage.TeaclaveStorageServer> {
  const fail = invalidResponse(log);
  return {
    get: async (req: storage.GetRequest) => {
      const value = await store.get(req.key).catch(fail);
      if (value === undefined) throw cloisterError("STORAGE_INVALID_RESPONSE");
      return { value };
    },
    put: async (req: storage.PutRequest) => {
      await store.put(req.key, req.value).catch(fail);
      return Empty.fromPartial({});
    },
    delete: async (req: storage.DeleteRequest) => {
      await store.delete(req.key).catch(fail);
      return Empty.fromPartial({});
    },
    enqueue: async (req: storage.EnqueueRequest) => {
      await store.enqueue(req.key, req.value).catch(fail);
      return Empty.fromPartial({});
    },
    dequeue: async (req: storage.DequeueRequest) => {
      const value = await store.dequeue(req.key).catch(fail);
      if (value === undefined) throw cloisterError("STORAGE_INVALID_RESPONSE");
      return { value };
    },
    getKeysByPrefix: async (req: storage.GetKeysByPrefixRequest) => {
      // Only keys that really carry the prefix: the legacy "first key" leak is fixed.
      return { keys: await store.keysByPrefix(req.prefix).catch(fail) };
    },
  };
}

const toOps = (writes: extensions.StorageWrite[]): BatchOp[] =>
  writes.map((w) =>
    w.delete
      ? ({ type: "del", key: w.key } as const)
      : ({ type: "put", key: w.key, value: w.value } as const),
  );

export function cloisterStorageHandlers(
  store: KvStore,
  log: Logger,
): Handlers<extensions.CloisterStorageServer> {
  const fail = invalidResponse(log);
  return {
    batch: async (req: extensions.BatchRequest) => {
      await store.batch(toOps(req.writes)).catch(fail);
      return Empty.fromPartial({});
    },
    enqueueWith: async (req: extensions.EnqueueWithRequest) => {
      await store.enqueueWith(req.key, req.value, toOps(req.writes)).catch(fail);
      return Empty.fromPartial({});
    },
    dequeueInto: async (req: extensions.DequeueIntoRequest) => {
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
    },
    waitForChange: async (req: extensions.WaitForChangeRequest) => {
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
    },
    getOptional: async (req: extensions.GetOptionalRequest) => {
      const value = await store.get(req.key).catch(fail);
      return value === undefined ? { found: false, value: Buffer.alloc(0) } : { found: true, value };
    },
    dequeueWait: async (req: extensions.DequeueWaitRequest, rc: RpcContext) => {
      const waitMs = Math.min(req.waitMs, MAX_DEQUEUE_WAIT_MS);
      const value = await store.dequeueWait(req.key, waitMs).catch(fail);
      const none = { recordFound: false, record: Buffer.alloc(0) };
      if (value !== undefined && rc.cancelled()) {
        // The caller is gone: put the element back rather than lose it (it goes to the tail).
        await store.enqueue(req.key, value).catch(fail);
        return { found: false, value: Buffer.alloc(0), ...none };
      }
      return value === undefined
        ? { found: false, value: Buffer.alloc(0), ...none }
        : { found: true, value, ...none };
    },
  };
}
