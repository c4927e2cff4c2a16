import {
  parseTask,
  type StagedTask,
  stagedTasks,
  type TaskId,
  type TaskRecord,
  taskRecords,
} from "@cloister/model";
import type { RecordStoreOptions, RecordTransaction } from "./records.js";
import { type BatchOp, hasMoveWithOps, type KvStore, type MoveWithOps } from "./types.js";

/**
 * The hand-off from management to the scheduler, written down in one module both sides use:
 * - management stages a task: its staged form goes on the durable `staged-task` queue in the
 *   same atomic step as the record writes that make it Staged (`TaskStaging.stage`);
 * - management asks for a cancel: the task record goes on `cancel_queue` (`requestCancel`);
 * - the scheduler claims staged tasks (moved under a claim key in the same step as the dequeue),
 *   puts them back, and consumes cancel requests (`TaskIntake`).
 * Queue names and element encodings are private to this module (the legacy storage layout).
 */
const STAGED_TASK_QUEUE = Buffer.from("staged-task", "utf8");
const CANCEL_QUEUE = Buffer.from("cancel_queue", "utf8");

/** For tests and tools that look at the storage layout itself. */
export const handoffQueues = { staged: "staged-task", cancel: "cancel_queue" } as const;

export type StagingBackend = Pick<KvStore, "enqueue" | "enqueueWith">;
export type IntakeBackend = Pick<KvStore, "get" | "enqueue" | "enqueueWith" | "dequeueWait" | "dequeueInto"> &
  Partial<ClaimWithRecordBackend> &
  Partial<MoveWithOps>;

/** A claimed staged-task element and the task record it stages, as read right after the claim. */
export interface ClaimedTask {
  element: Buffer;
  /** Undefined when there is no record (or the element names no task). */
  record: Buffer | undefined;
}

/**
 * A backend that answers a claim together with the claimed task's record in one step (the storage
 * service over the wire: one round trip instead of two).
 */
export interface ClaimWithRecordBackend {
  dequeueIntoWithTaskRecord(
    queue: Buffer,
    key: Buffer,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<ClaimedTask | undefined>;
}

/** The key of the task record a staged-task element stages; undefined when it names no task. */
export function taskRecordKeyOf(element: Buffer): Buffer | undefined {
  try {
    return taskRecords.key(stagedTasks.taskIdOf(element));
  } catch {
    return undefined;
  }
}

/**
 * The storage service's side of a claim with its record: dequeue into `key`, then read the record.
 * The read is not atomic with the dequeue; the caller knows which of its own writes may have
 * crossed it (see the scheduler) and reads again then.
 */
export async function claimWithTaskRecord(
  store: Pick<KvStore, "get" | "dequeueInto">,
  queue: Buffer,
  key: Buffer,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<ClaimedTask | undefined> {
  const element = await store.dequeueInto(queue, key, timeoutMs, signal);
  if (element === undefined) return undefined;
  const recordKey = taskRecordKeyOf(element);
  return { element, record: recordKey ? await store.get(recordKey) : undefined };
}

/** Management's end. */
export class TaskStaging {
  constructor(
    private readonly backend: StagingBackend,
    private readonly options: RecordStoreOptions = {},
  ) {}

  private async io(what: string, op: () => Promise<void>): Promise<void> {
    try {
      await op();
    } catch (e) {
      throw this.options.onFailure ? this.options.onFailure(e, what) : e;
    }
  }

  /** Queue `staged` and apply `writes` (the Staged record, the use count) in one atomic step. */
  async stage(staged: StagedTask, writes: RecordTransaction): Promise<void> {
    const element = stagedTasks.encode(staged);
    await this.io("stage task", () => this.backend.enqueueWith(STAGED_TASK_QUEUE, element, writes.ops));
  }

  async requestCancel(task: TaskRecord): Promise<void> {
    const element = taskRecords.encode(task);
    await this.io("request cancel", () => this.backend.enqueue(CANCEL_QUEUE, element));
  }
}

/** The scheduler's end. */
export class TaskIntake {
  constructor(private readonly backend: IntakeBackend) {}

  /**
   * The next staged task, moved under `claimKey` in the same atomic step as the dequeue; waits up
   * to `timeoutMs`.
   */
  async claim(claimKey: Buffer, timeoutMs: number, signal?: AbortSignal): Promise<Buffer | undefined> {
    return this.backend.dequeueInto(STAGED_TASK_QUEUE, claimKey, timeoutMs, signal);
  }

  /**
   * Like claim, with the record of the claimed task read right after the claim (in the storage
   * service when the backend can, else here). Only for callers that fence their own writes.
   */
  async claimWithRecord(
    claimKey: Buffer,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<ClaimedTask | undefined> {
    if (this.backend.dequeueIntoWithTaskRecord)
      return this.backend.dequeueIntoWithTaskRecord(STAGED_TASK_QUEUE, claimKey, timeoutMs, signal);
    return claimWithTaskRecord(this.backend, STAGED_TASK_QUEUE, claimKey, timeoutMs, signal);
  }

  /** Whether `claimWith` can add writes to the claim's atomic step on this backend. */
  get claimsWithOps(): boolean {
    return hasMoveWithOps(this.backend);
  }

  /**
   * Like claim, and `withOps(element)` (called at most once, while the backend holds its queue
   * step) returns writes that go in the same atomic step as the claim. Not called where the
   * backend cannot (then only the claim is written). Only when `claimsWithOps`.
   */
  async claimWith(
    claimKey: Buffer,
    timeoutMs: number,
    signal: AbortSignal | undefined,
    withOps: (element: Buffer) => Promise<BatchOp[]>,
  ): Promise<Buffer | undefined> {
    if (!hasMoveWithOps(this.backend)) throw new Error("the backend cannot add writes to a claim");
    return this.backend.dequeueIntoWith(STAGED_TASK_QUEUE, claimKey, timeoutMs, signal, withOps);
  }

  /** The task a claimed element runs, read without decoding its payload (RecordFormatError if none). */
  taskIdOf(element: Buffer): TaskId {
    return stagedTasks.taskIdOf(element);
  }

  /** Back on the queue, with `ops` (lease and claim bookkeeping) in the same atomic step. */
  async requeue(element: Buffer, ops: BatchOp[]): Promise<void> {
    await this.backend.enqueueWith(STAGED_TASK_QUEUE, element, ops);
  }

  /** PublishTask (legacy): a staged task from outside, checked before it is queued. */
  async publish(element: Buffer): Promise<void> {
    stagedTasks.decode(element);
    await this.backend.enqueue(STAGED_TASK_QUEUE, element);
  }

  /**
   * The task of the next cancel request, waiting up to `timeoutMs`; undefined when none came.
   * A request that does not decode is a RecordFormatError (and consumed).
   */
  async nextCancel(timeoutMs: number, signal?: AbortSignal): Promise<TaskId | undefined> {
    const item = await this.backend.dequeueWait(CANCEL_QUEUE, timeoutMs, signal);
    return item ? parseTask(item.toString("utf8")).uuid : undefined;
  }
}
