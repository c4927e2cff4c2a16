import {
  BrokenCircuitError,
  ConsecutiveBreaker,
  circuitBreaker,
  ExponentialBackoff,
  handleWhen,
  retry,
} from "cockatiel";
import {
  Etcd3,
  GRPCDeadlineExceededError,
  GRPCResourceExhastedError,
  GRPCUnavailableError,
  type IOptions,
  isRecoverableError,
  type Watcher,
} from "etcd3";
import { bytes, lastOpPerKey, prefixEnd, validateBatch, validateTimeout } from "./bytes.js";
import { invalidArgument, StorageClosedError, StorageError, StorageIntegrityError } from "./errors.js";
import { decodeCounter, encodeCounter, nextSlot, queueFull, queueKeys } from "./queue-layout.js";
import type { BatchOp, IndexedQueues, KeyWatches, KvStore, QueueEntry, QueueMove } from "./types.js";
import { type Subscription, Wakeup, waitFor } from "./wait.js";

export interface EtcdStoreOptions {
  /** Client URLs of the cluster members, e.g. `http://127.0.0.1:2379`. */
  endpoints: string[];
  /** Prepended to every key, so several deployments can share one cluster. Default: none. */
  namespace?: string;
  /** How long `open` waits for the cluster to answer. Default 5000 ms. */
  connectTimeoutMs?: number;
  /** TLS material and user/password for the cluster, passed to the etcd3 client unchanged. */
  credentials?: IOptions["credentials"];
  auth?: IOptions["auth"];
}

const PAGE = 1000;
const ZERO = Buffer.from([0]);

type Rpc = Etcd3["kv"];
type TxnRequest = Parameters<Rpc["txn"]>[0];
type RequestOp = NonNullable<TxnRequest["success"]>[number];
type KeyValue = { key: Buffer; value: Buffer; mod_revision: string };

/**
 * The distributed backend. Queues use the same legacy layout as LevelDB; every queue update is
 * an etcd transaction guarded by the mod revision of the counter it advances, so any number of
 * processes can enqueue and dequeue concurrently. Waiters watch the queue's tail counter.
 */
export class EtcdStore implements KvStore, IndexedQueues, KeyWatches {
  private readonly closing = new AbortController();
  private readonly watchers = new Set<Watcher>();

  private constructor(
    private readonly client: Etcd3,
    private readonly ns: Buffer,
  ) {}

  static async open(options: EtcdStoreOptions): Promise<EtcdStore> {
    const endpoints = options?.endpoints;
    if (
      !Array.isArray(endpoints) ||
      endpoints.length === 0 ||
      !endpoints.every((e) => typeof e === "string" && e)
    ) {
      throw invalidArgument("etcd endpoints must be a non-empty list of URLs");
    }
    const client = new Etcd3({
      hosts: endpoints,
      faultHandling: {
        // etcd3's default opens a member's breaker for 5 s after 3 failures. During an election
        // every live member answers "unavailable" for a moment, so all breakers opened and writes
        // stalled ~6.5 s after a leader died (measured by `npm run bench`). Half-open after 500 ms.
        host: () =>
          circuitBreaker(handleWhen(transient), {
            halfOpenAfter: 500,
            breaker: new ConsecutiveBreaker(3),
          }),
        global: retry(handleWhen(transient), {
          maxAttempts: 3,
          backoff: new ExponentialBackoff({ initialDelay: 50, maxDelay: 500 }),
        }),
      },
      ...(options.credentials ? { credentials: options.credentials } : {}),
      ...(options.auth ? { auth: options.auth } : {}),
    });
    const store = new EtcdStore(client, Buffer.from(options.namespace ?? "", "utf8"));
    try {
      // Fail at start-up, not on the first request, when the cluster is unreachable.
      await client.kv.range(
        { key: store.k(Buffer.from("probe")), keys_only: true, limit: 1 },
        { deadline: Date.now() + (options.connectTimeoutMs ?? 5000) },
      );
    } catch (e) {
      client.close();
      throw new StorageError(`cannot reach etcd at ${endpoints.join(", ")}`, { cause: e });
    }
    return store;
  }

  async get(key: Buffer): Promise<Buffer | undefined> {
    const k = this.k(bytes("key", key));
    return this.idempotent(
      async (deadline) => (await this.client.kv.range({ key: k }, { deadline })).kvs[0]?.value,
    );
  }

  async put(key: Buffer, value: Buffer): Promise<void> {
    const k = this.k(bytes("key", key));
    const v = bytes("value", value);
    return this.idempotent(async (deadline) => {
      await this.client.kv.put({ key: k, value: v }, { deadline });
    });
  }

  async delete(key: Buffer): Promise<void> {
    const k = this.k(bytes("key", key));
    return this.idempotent(async (deadline) => {
      await this.client.kv.deleteRange({ key: k }, { deadline });
    });
  }

  async keysByPrefix(prefix: Buffer): Promise<Buffer[]> {
    const full = this.k(bytes("prefix", prefix));
    // etcd has no empty key; "\0" as range_end means "to the end of the key space".
    const end = prefixEnd(full) ?? ZERO;
    return this.idempotent(async (deadline) => {
      const out: Buffer[] = [];
      let start = full.length === 0 ? ZERO : full;
      let revision: string | undefined;
      for (;;) {
        const res = await this.client.kv.range(
          {
            key: start,
            range_end: end,
            keys_only: true,
            limit: PAGE,
            sort_order: "Ascend",
            sort_target: "Key",
            // Later pages read the snapshot of the first one, so the listing is consistent.
            ...(revision ? { revision } : {}),
          },
          { deadline },
        );
        revision ??= res.header.revision;
        for (const kv of res.kvs) {
          if (kv.key.subarray(0, full.length).equals(full))
            out.push(Buffer.from(kv.key.subarray(this.ns.length)));
        }
        const last = res.kvs[res.kvs.length - 1];
        if (!res.more || !last) return out;
        start = Buffer.concat([last.key, ZERO]);
      }
    });
  }

  async batch(ops: BatchOp[]): Promise<void> {
    // etcd refuses a transaction that touches one key twice; keeping the last op per key
    // gives the same result as applying them in order.
    const valid = lastOpPerKey(validateBatch(ops));
    if (valid.length === 0) return this.guard(async () => {});
    const success: RequestOp[] = valid.map((op) => this.requestOp(op));
    // Unconditional puts and deletes: applying them twice leaves the same state, so a try that
    // timed out may be repeated.
    return this.idempotent(async (deadline) => {
      await this.client.kv.txn({ success }, { deadline });
    });
  }

  async enqueue(queue: Buffer, value: Buffer): Promise<void> {
    const v = bytes("value", value);
    await this.enqueueIndexed(queue, () => v);
  }

  async dequeue(queue: Buffer): Promise<Buffer | undefined> {
    return (await this.dequeueIndexed(queue))?.value;
  }

  async dequeueWait(queue: Buffer, timeoutMs: number, signal?: AbortSignal): Promise<Buffer | undefined> {
    return (await this.dequeueIndexedWait(queue, timeoutMs, signal))?.value;
  }

  async enqueueWith(queue: Buffer, value: Buffer, ops: BatchOp[]): Promise<void> {
    const v = bytes("value", value);
    await this.enqueueIndexed(queue, () => v, ops);
  }

  async dequeueInto(
    queue: Buffer,
    key: Buffer,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<Buffer | undefined> {
    const k = bytes("key", key);
    return (await this.dequeueIndexedWait(queue, timeoutMs, signal, { key: k, encode: (e) => e.value }))
      ?.value;
  }

  async enqueueIndexed(queue: Buffer, encode: (index: number) => Buffer, ops: BatchOp[] = []): Promise<void> {
    const keys = this.queueKeys(bytes("queue", queue));
    const extra: RequestOp[] = lastOpPerKey(validateBatch(ops)).map((op) => this.requestOp(op));
    return this.guard(async () => {
      let counters = await this.readCounters(keys);
      for (;;) {
        const tail = decodeCounter(counters.tail?.value);
        const next = nextSlot(tail);
        if (next === decodeCounter(counters.head?.value)) throw queueFull();
        const element = bytes("encoded element", encode(tail));
        const res = await this.client.kv.txn({
          compare: [
            {
              key: keys.tail,
              target: "Mod",
              result: "Equal",
              mod_revision: counters.tail?.mod_revision ?? 0,
            },
          ],
          success: [
            ...extra,
            { request_put: { key: keys.element(tail), value: element } },
            { request_put: { key: keys.tail, value: encodeCounter(next) } },
          ],
          failure: counterReads(keys),
        });
        if (res.succeeded) return;
        counters = countersFrom(res.responses);
      }
    });
  }

  async dequeueIndexed(queue: Buffer, into?: QueueMove): Promise<QueueEntry | undefined> {
    const keys = this.queueKeys(bytes("queue", queue));
    return this.guard(async () => {
      let counters = await this.readCounters(keys);
      for (;;) {
        const head = decodeCounter(counters.head?.value);
        if (head === decodeCounter(counters.tail?.value)) return undefined;
        // A move needs the element before the transaction; the head compare below proves
        // nobody took the slot (and so changed it) in between.
        let moved: RequestOp[] = [];
        let failure: unknown;
        if (into) {
          const value = (await this.client.kv.range({ key: keys.element(head) })).kvs[0]?.value;
          if (value !== undefined) {
            try {
              moved = [
                {
                  request_put: {
                    key: this.k(into.key),
                    value: bytes("moved element", into.encode({ index: head, value })),
                  },
                },
              ];
            } catch (e) {
              failure = e;
            }
          }
        }
        // Only a dequeuer moves head, so "head unchanged" means nobody else took this slot.
        const res = await this.client.kv.txn({
          compare: [
            {
              key: keys.head,
              target: "Mod",
              result: "Equal",
              mod_revision: counters.head?.mod_revision ?? 0,
            },
          ],
          success: [
            { request_delete_range: { key: keys.element(head), prev_kv: true } },
            { request_put: { key: keys.head, value: encodeCounter(nextSlot(head)) } },
            ...moved,
          ],
          failure: counterReads(keys),
        });
        if (res.succeeded) {
          const value = res.responses[0]?.response_delete_range?.prev_kvs?.[0]?.value;
          // The slot was removed underneath the queue; head has moved past it so the queue
          // stays usable, and the caller learns that an element was lost.
          if (value === undefined) throw new StorageIntegrityError();
          if (failure !== undefined) throw failure;
          return { index: head, value };
        }
        counters = countersFrom(res.responses);
      }
    });
  }

  /** An etcd watch on the key: writes by any process (every storage replica) wake it. */
  watchKey(key: Buffer): Subscription {
    return this.subscribe(this.k(bytes("key", key)), { deletes: true });
  }

  /**
   * A wakeup driven by an etcd watch of `key`. After a reconnect or a stream error it fires too
   * (events may have been skipped): the waiter re-checks, which is cheap and misses nothing.
   */
  private subscribe(key: Buffer, { deletes }: { deletes: boolean }): Subscription {
    const wakeup = new Wakeup();
    const builder = this.client.watch().key(key);
    const watcher = (deletes ? builder : builder.only("put")).watcher();
    this.watchers.add(watcher);
    const ready = new Promise<void>((resolve) => watcher.once("connected", () => resolve()));
    watcher.on("put", () => wakeup.notify());
    if (deletes) watcher.on("delete", () => wakeup.notify());
    watcher.on("connected", () => wakeup.notify());
    watcher.on("disconnected", () => {});
    watcher.on("error", () => wakeup.notify());
    return {
      wakeup,
      ready,
      close: async () => {
        this.watchers.delete(watcher);
        await watcher.cancel().catch(() => {});
      },
    };
  }

  async dequeueIndexedWait(
    queue: Buffer,
    timeoutMs: number,
    signal?: AbortSignal,
    into?: QueueMove,
  ): Promise<QueueEntry | undefined> {
    const q = bytes("queue", queue);
    const t = validateTimeout(timeoutMs);
    if (this.closing.signal.aborted) return Promise.reject(new StorageClosedError());
    const tailKey = this.queueKeys(q).tail;
    // Only the tail counter's puts matter: each enqueue moves it.
    const subscribe = () => this.subscribe(tailKey, { deletes: false });
    return waitFor(() => this.dequeueIndexed(q, into), subscribe, t, [this.closing.signal, signal]);
  }

  async close(): Promise<void> {
    if (this.closing.signal.aborted) return;
    this.closing.abort(new StorageClosedError());
    // Unconnected watchers would otherwise keep reconnecting after the client is closed.
    await Promise.all([...this.watchers].map((w) => w.cancel().catch(() => {})));
    this.client.close();
  }

  private k(key: Buffer): Buffer {
    return this.ns.length === 0 ? key : Buffer.concat([this.ns, key]);
  }

  private requestOp(op: BatchOp): RequestOp {
    return op.type === "put"
      ? { request_put: { key: this.k(op.key), value: op.value } }
      : { request_delete_range: { key: this.k(op.key) } };
  }

  private queueKeys(queue: Buffer) {
    const keys = queueKeys(queue);
    return {
      head: this.k(keys.head),
      tail: this.k(keys.tail),
      element: (i: number) => this.k(keys.element(i)),
    };
  }

  private async readCounters(keys: { head: Buffer; tail: Buffer }): Promise<Counters> {
    // One transaction, so head and tail come from the same revision.
    return countersFrom((await this.client.kv.txn({ success: counterReads(keys) })).responses);
  }

  /**
   * An operation that is safe to repeat (reads, unconditional puts, deletes and batches of
   * them). A request caught by a leader change waits on the server for etcd's own request
   * timeout (5 s + 2 × election timeout); with a short deadline per try and a repeat, a write
   * instead lands as soon as the new leader is elected. Conditional (queue) transactions never
   * come here: repeating one whose first try committed could apply it twice.
   */
  private async idempotent<T>(fn: (deadline: Date) => Promise<T>): Promise<T> {
    const until = Date.now() + IDEMPOTENT_BUDGET_MS;
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.guard(() => fn(new Date(Date.now() + ATTEMPT_MS)));
      } catch (e) {
        if (e instanceof StorageClosedError || !retryable(e) || Date.now() + ATTEMPT_MS > until) throw e;
        await new Promise((r) => setTimeout(r, Math.min(50 * attempt, 250)));
      }
    }
  }

  private async guard<T>(fn: () => Promise<T>): Promise<T> {
    if (this.closing.signal.aborted) throw new StorageClosedError();
    try {
      return await fn();
    } catch (e) {
      if (e instanceof StorageError) throw e;
      if (this.closing.signal.aborted) throw new StorageClosedError();
      throw new StorageError(describeEtcdFailure(e), { cause: e });
    }
  }
}

interface Counters {
  head: KeyValue | undefined;
  tail: KeyValue | undefined;
}

const counterReads = (keys: { head: Buffer; tail: Buffer }): RequestOp[] => [
  { request_range: { key: keys.head } },
  { request_range: { key: keys.tail } },
];

function countersFrom(responses: Array<{ response_range?: { kvs: KeyValue[] } }>): Counters {
  return { head: responses[0]?.response_range?.kvs[0], tail: responses[1]?.response_range?.kvs[0] };
}

// The server's limits are configuration an operator can change, so name the knob.
/** Per-try deadline of a repeatable operation, and the total time spent repeating it. */
const ATTEMPT_MS = 1500;
const IDEMPOTENT_BUDGET_MS = 20_000;

/**
 * etcd3 marks connection-level failures (a dead member, no leader) recoverable, and also
 * RESOURCE_EXHAUSTED, which for etcd means "request too large": repeating that cannot help and
 * would only trip the members' breakers.
 */
function transient(e: Error): boolean {
  return isRecoverableError(e) && !(e instanceof GRPCResourceExhastedError);
}

/** A failure of the cluster (no leader, unreachable member, timeout), not of the request. */
function retryable(e: unknown): boolean {
  const cause = (e as { cause?: unknown }).cause ?? e;
  if (cause === null || typeof cause !== "object") return false;
  return (
    transient(cause as Error) ||
    cause instanceof BrokenCircuitError ||
    cause instanceof GRPCDeadlineExceededError ||
    cause instanceof GRPCUnavailableError
  );
}

function describeEtcdFailure(e: unknown): string {
  const msg = e instanceof Error ? e.message : "";
  if (msg.includes("too many operations in txn request")) {
    return "batch has more operations than the etcd cluster accepts in one transaction (etcd --max-txn-ops)";
  }
  if (msg.includes("request is too large") || msg.includes("received message larger than max")) {
    return "request is larger than the etcd cluster accepts (etcd --max-request-bytes)";
  }
  return "etcd request failed";
}
