import {
  createCipheriv,
  createDecipheriv,
  createSecretKey,
  type KeyObject,
  randomFillSync,
} from "node:crypto";
import { bytes, validateBatch } from "./bytes.js";
import { invalidArgument, StorageError, StorageIntegrityError } from "./errors.js";
import {
  type BatchOp,
  hasIndexedQueues,
  hasKeyWatches,
  type IndexedQueues,
  type KeyWatches,
  type KvStore,
  type MoveWithOps,
  type QueueMove,
} from "./types.js";
import type { Subscription } from "./wait.js";

/** Layout: version (1) ‖ IV (12) ‖ GCM tag (16) ‖ ciphertext. */
const VERSION = 0x01;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const HEADER_BYTES = 1 + IV_BYTES + TAG_BYTES;

// AAD = version ‖ domain ‖ binding. The domain byte keeps a value sealed for one purpose from
// opening in another even where the legacy layout makes the raw keys coincide.
const DOMAIN_VALUE = 0x00; // binding: the key
const DOMAIN_QUEUE_SLOT = 0x01; // binding: u32 BE queue-name length ‖ queue name ‖ u32 LE slot index
const DOMAIN_QUEUE = 0x02; // binding: the queue name (inner store cannot report slot indexes)

/**
 * Seals every value and queue element with AES-256-GCM before it reaches the wrapped store,
 * and refuses (StorageIntegrityError) anything that does not open.
 *
 * - A value is bound to its key: moving ciphertext to another key fails to open.
 * - A queue element is bound to its queue and, when the inner store implements IndexedQueues
 *   (both built-in backends do), to its slot index: reordering or copying elements within or
 *   across queues fails to open.
 * - Keys, queue names and the queue counters stay in clear (prefix scans need them), so key
 *   names must not carry secrets.
 * - Not detected: deleting a value, or rolling the whole store (or one key, or a queue's
 *   counters together with its elements) back to an earlier state that was itself valid.
 *   That would need a trusted monotonic counter, which the platform does not provide.
 *
 * The wrapper owns the inner store: close() closes it.
 */
export class SealedStore implements KvStore, KeyWatches, MoveWithOps {
  private readonly key: KeyObject;
  private readonly indexed: (KvStore & IndexedQueues) | undefined;
  private readonly opened = new OpenedValues();

  constructor(
    private readonly inner: KvStore,
    sealingKey: Buffer | KeyObject,
  ) {
    this.key = Buffer.isBuffer(sealingKey) ? createSecretKey(sealingKey) : sealingKey;
    if (this.key.type !== "secret" || this.key.symmetricKeySize !== 32) {
      throw invalidArgument("sealing key must be 32 bytes (AES-256)");
    }
    this.indexed = hasIndexedQueues(inner) ? inner : undefined;
  }

  async get(key: Buffer): Promise<Buffer | undefined> {
    const k = bytes("key", key);
    const sealed = await this.inner.get(k);
    if (sealed === undefined) return undefined;
    const name = k.toString("latin1");
    const known = this.opened.get(name, sealed);
    if (known) return known;
    const plain = this.open(sealed, valueAad(k));
    this.opened.set(name, sealed, plain);
    return plain;
  }

  async put(key: Buffer, value: Buffer): Promise<void> {
    const k = bytes("key", key);
    const v = bytes("value", value);
    const sealed = this.seal(v, valueAad(k));
    await this.inner.put(k, sealed);
    this.opened.set(k.toString("latin1"), sealed, v);
  }

  async delete(key: Buffer): Promise<void> {
    return this.inner.delete(key);
  }

  async keysByPrefix(prefix: Buffer): Promise<Buffer[]> {
    return this.inner.keysByPrefix(prefix);
  }

  async batch(ops: BatchOp[]): Promise<void> {
    const sealed = this.sealOps(ops);
    await this.inner.batch(sealed);
    this.remember(ops, sealed);
  }

  /** The plaintexts of puts just written, for reads of the same sealed bytes. */
  private remember(plain: BatchOp[], sealed: BatchOp[]): void {
    for (let i = 0; i < plain.length; i++) {
      const p = plain[i]!;
      const s = sealed[i]!;
      if (p.type === "put" && s.type === "put") this.opened.set(p.key.toString("latin1"), s.value, p.value);
    }
  }

  private sealOps(ops: BatchOp[]): BatchOp[] {
    return validateBatch(ops).map((op) =>
      op.type === "put" ? { type: "put", key: op.key, value: this.seal(op.value, valueAad(op.key)) } : op,
    );
  }

  /** Atomic queue moves need slot-aware queues (both built-in backends have them). */
  private requireIndexed(): KvStore & IndexedQueues {
    if (!this.indexed) throw new StorageError("the backend cannot move queue elements atomically");
    return this.indexed;
  }

  async enqueue(queue: Buffer, value: Buffer): Promise<void> {
    const q = bytes("queue", queue);
    const v = bytes("value", value);
    if (this.indexed) await this.indexed.enqueueIndexed(q, (index) => this.seal(v, slotAad(q, index)));
    else await this.inner.enqueue(q, this.seal(v, queueAad(q)));
  }

  async dequeue(queue: Buffer): Promise<Buffer | undefined> {
    const q = bytes("queue", queue);
    if (this.indexed) {
      const entry = await this.indexed.dequeueIndexed(q);
      return entry && this.open(entry.value, slotAad(q, entry.index));
    }
    const sealed = await this.inner.dequeue(q);
    return sealed && this.open(sealed, queueAad(q));
  }

  async dequeueWait(queue: Buffer, timeoutMs: number, signal?: AbortSignal): Promise<Buffer | undefined> {
    const q = bytes("queue", queue);
    if (this.indexed) {
      const entry = await this.indexed.dequeueIndexedWait(q, timeoutMs, signal);
      return entry && this.open(entry.value, slotAad(q, entry.index));
    }
    const sealed = await this.inner.dequeueWait(q, timeoutMs, signal);
    return sealed && this.open(sealed, queueAad(q));
  }

  async enqueueWith(queue: Buffer, value: Buffer, ops: BatchOp[]): Promise<void> {
    const q = bytes("queue", queue);
    const v = bytes("value", value);
    const sealedOps = this.sealOps(ops);
    await this.requireIndexed().enqueueIndexed(q, (index) => this.seal(v, slotAad(q, index)), sealedOps);
    this.remember(ops, sealedOps);
  }

  async dequeueInto(
    queue: Buffer,
    key: Buffer,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<Buffer | undefined> {
    return this.move(queue, key, timeoutMs, signal);
  }

  /**
   * dequeueInto with writes computed from the (opened) element, sealed like a batch's, in the
   * same atomic step where the inner store can add writes to a move (else `withOps` is not
   * called and only the move is written).
   */
  async dequeueIntoWith(
    queue: Buffer,
    key: Buffer,
    timeoutMs: number,
    signal: AbortSignal | undefined,
    withOps: (element: Buffer) => Promise<BatchOp[]>,
  ): Promise<Buffer | undefined> {
    return this.move(queue, key, timeoutMs, signal, withOps);
  }

  private async move(
    queue: Buffer,
    key: Buffer,
    timeoutMs: number,
    signal: AbortSignal | undefined,
    withOps?: (element: Buffer) => Promise<BatchOp[]>,
  ): Promise<Buffer | undefined> {
    const q = bytes("queue", queue);
    const k = bytes("key", key);
    let plain: Buffer | undefined;
    let written: { plain: BatchOp[]; sealed: BatchOp[] } | undefined;
    // The element moves re-sealed for its new key, so it opens there and nowhere else.
    const into: QueueMove = {
      key: k,
      encode: (e) => {
        plain = this.open(e.value, slotAad(q, e.index));
        return this.seal(plain, valueAad(k));
      },
    };
    if (withOps)
      into.with = async () => {
        if (plain === undefined) return [];
        const ops = await withOps(Buffer.from(plain));
        written = { plain: ops, sealed: this.sealOps(ops) };
        return written.sealed;
      };
    const entry = await this.requireIndexed().dequeueIndexedWait(q, timeoutMs, signal, into);
    if (written) this.remember(written.plain, written.sealed);
    return entry && (plain ?? this.open(entry.value, slotAad(q, entry.index)));
  }

  /** Keys are in clear, so the inner store's watch serves as it is. */
  watchKey(key: Buffer): Subscription {
    if (!hasKeyWatches(this.inner)) throw new StorageError("the backend cannot watch keys");
    return this.inner.watchKey(key);
  }

  async close(): Promise<void> {
    return this.inner.close();
  }

  private seal(plaintext: Buffer, aad: Buffer): Buffer {
    const iv = nextIv();
    const cipher = createCipheriv("aes-256-gcm", this.key, iv, { authTagLength: TAG_BYTES });
    cipher.setAAD(aad);
    // GCM is a stream mode: update() returns all of the ciphertext and final() nothing more.
    const body = cipher.update(plaintext);
    cipher.final();
    const out = Buffer.allocUnsafe(HEADER_BYTES + body.length);
    out[0] = VERSION;
    iv.copy(out, 1);
    cipher.getAuthTag().copy(out, 1 + IV_BYTES);
    body.copy(out, HEADER_BYTES);
    return out;
  }

  private open(sealed: Buffer, aad: Buffer): Buffer {
    if (sealed.length < HEADER_BYTES || sealed[0] !== VERSION) throw new StorageIntegrityError();
    const decipher = createDecipheriv("aes-256-gcm", this.key, sealed.subarray(1, 1 + IV_BYTES), {
      authTagLength: TAG_BYTES,
    });
    decipher.setAAD(aad);
    decipher.setAuthTag(sealed.subarray(1 + IV_BYTES, HEADER_BYTES));
    try {
      const plain = decipher.update(sealed.subarray(HEADER_BYTES));
      decipher.final();
      return plain;
    } catch {
      throw new StorageIntegrityError();
    }
  }
}

/**
 * Plaintexts of values this store sealed or opened lately, each with the exact sealed bytes it
 * belongs to: a read that gets those bytes again (same key, so same AAD) would decrypt to the
 * same plaintext, so it is answered without decrypting; any other bytes (a newer write, another
 * process's write, tampering) are opened and checked as always. An entry that is out of date can
 * therefore never answer. Values stay sealed at rest; this holds plaintext only in the memory of
 * the process that holds the key. Bounded in bytes, in two generations (see ReadCache).
 */
class OpenedValues {
  private young = new Map<string, { sealed: Buffer; plain: Buffer }>();
  private old = new Map<string, { sealed: Buffer; plain: Buffer }>();
  private bytes = 0;

  constructor(
    private readonly maxBytes = 8 * 1024 * 1024,
    private readonly maxValueBytes = 64 * 1024,
  ) {}

  /** A copy of the plaintext of `sealed` under `key`, if known. */
  get(key: string, sealed: Buffer): Buffer | undefined {
    let e = this.young.get(key);
    if (e === undefined) {
      e = this.old.get(key);
      if (e === undefined) return undefined;
      this.add(key, e);
    }
    return e.sealed.equals(sealed) ? Buffer.from(e.plain) : undefined;
  }

  /** `sealed` (kept as it is: nothing writes to it) opens to `plain` (copied) under `key`. */
  set(key: string, sealed: Buffer, plain: Buffer): void {
    if (plain.length > this.maxValueBytes) {
      this.young.delete(key);
      this.old.delete(key);
      return;
    }
    this.add(key, { sealed, plain: Buffer.from(plain) });
  }

  private add(key: string, e: { sealed: Buffer; plain: Buffer }): void {
    this.young.set(key, e);
    this.bytes += key.length + e.sealed.length + e.plain.length;
    if (this.bytes > this.maxBytes / 2) {
      this.old = this.young;
      this.young = new Map();
      this.bytes = 0;
    }
  }
}

/**
 * Random IVs from the CSPRNG, drawn 4 KiB at a time: one draw per 341 values sealed instead of
 * one per value (a draw costs about as much as sealing a small value). Each IV is used once,
 * and copied into the value it seals before the pool is refilled.
 */
const IV_POOL_BYTES = 4096 - (4096 % IV_BYTES);
let ivPool = Buffer.alloc(0);
let ivAt = 0;

function nextIv(): Buffer {
  if (ivAt + IV_BYTES > ivPool.length) {
    ivPool = randomFillSync(Buffer.allocUnsafe(IV_POOL_BYTES));
    ivAt = 0;
  }
  const iv = ivPool.subarray(ivAt, ivAt + IV_BYTES);
  ivAt += IV_BYTES;
  return iv;
}

function prefixed(domain: number, binding: Buffer): Buffer {
  const aad = Buffer.allocUnsafe(2 + binding.length);
  aad[0] = VERSION;
  aad[1] = domain;
  binding.copy(aad, 2);
  return aad;
}

const valueAad = (key: Buffer): Buffer => prefixed(DOMAIN_VALUE, key);

const queueAad = (queue: Buffer): Buffer => prefixed(DOMAIN_QUEUE, queue);

function slotAad(queue: Buffer, index: number): Buffer {
  const aad = Buffer.alloc(2 + 4 + queue.length + 4);
  aad[0] = VERSION;
  aad[1] = DOMAIN_QUEUE_SLOT;
  aad.writeUInt32BE(queue.length, 2);
  queue.copy(aad, 6);
  aad.writeUInt32LE(index >>> 0, 6 + queue.length);
  return aad;
}
