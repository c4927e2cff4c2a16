import { randomUUID } from "node:crypto";
import { cloisterError, isUuid, KeyedMutex, type Logger, silentLogger } from "@cloister/core";
import {
  cancelByUser,
  EXECUTOR_TIMEOUT_REASON,
  finishWithResult,
  isEnded,
  markRunning,
  OutputId,
  outputRecords,
  RecordFormatError,
  TaskId,
  type TaskRecord,
  type TaskResult,
  taskRecords,
} from "@cloister/model";
import { common } from "@cloister/proto";
import {
  type BatchOp,
  type IntakeBackend,
  type RecordBackend,
  RecordStore,
  type RecordTransaction,
  TaskIntake,
} from "@cloister/storage";
import {
  CLAIM_PREFIX,
  cancelMarks,
  claimKey,
  LEASE_PREFIX,
  type Lease,
  leaseKey,
  NODE_PREFIX,
  nodeKey,
  parseLease,
  serializeLease,
} from "./leases.js";

const { ExecutorCommand, ExecutorStatus, TaskStatus } = common;
type ExecutorCommand = common.ExecutorCommand;

export interface SchedulerOptions {
  /** The state layer (the storage service, seen through its client). */
  store: RecordBackend & IntakeBackend;
  log?: Logger;
  /** A node silent for this long is declared lost and its tasks re-queued (legacy: 30 s). */
  heartbeatTimeoutMs?: number;
  /** Hand-overs per task before it is Failed instead of re-queued (default 3). */
  maxAttempts?: number;
  now?: () => number;
}

interface ExecutorState {
  lastSeen: number;
  status: common.ExecutorStatus;
  /** Task uuid the executor holds a lease on, if any. */
  task?: TaskId | undefined;
  /** Resolves a long-polling heartbeat early (a Stop is waiting). */
  wake?: (() => void) | undefined;
}

/** A lease as held in memory: `since` is on this process's clock, so a restart grants a fresh period. */
type LiveLease = Lease & { since: number };

/** What a node gets from PullTask: the staged task and the generation it must quote. */
export interface HandedTask {
  stagedTask: Buffer;
  generation: number;
  /** Recorded Running with the lease (the node need not report it). */
  running: boolean;
}

const buf = (s: string) => Buffer.from(s, "utf8");
const stale = () => cloisterError("LEASE_NOT_HELD");

/**
 * The scheduler of the legacy contract, reshaped so that nothing waits on a timer and nothing
 * acknowledged is lost:
 * - staged tasks stay in the durable storage queue until a node takes one; the storage service
 *   moves the element under a claim key in the same atomic step as the dequeue;
 * - a task handed to a node is leased durably (generation, attempts) until its result is
 *   recorded; a lease whose node goes silent, or that is not reported Running in time, puts the
 *   task back on the queue (at most `maxAttempts` hand-overs, then Failed);
 * - status, result and heartbeat calls quote the lease generation: stale ones are refused and a
 *   node that lost its lease is told to Stop, so a task never runs on two nodes at once;
 * - the node table and the leases survive a restart (a restart gives every lease a fresh period);
 * - cancel requests are consumed from `cancel_queue` as they arrive and kept as durable marks;
 * - Heartbeat may long-poll, so a Stop reaches the running node at once.
 * One scheduler per platform: per-task steps are serialised in this process.
 */
export class Scheduler {
  /** Lease, claim and node bookkeeping (raw keys of leases.ts). */
  private readonly store: RecordBackend;
  private readonly recordStore: RecordStore;
  /** The scheduler's end of the hand-off from management. */
  private readonly intake: TaskIntake;
  private readonly log: Logger;
  private readonly timeoutMs: number;
  private readonly maxAttempts: number;
  private readonly now: () => number;
  private readonly executors = new Map<string, ExecutorState>();
  private readonly leases = new Map<TaskId, LiveLease>();
  /** Claims being turned into leases right now: not orphans. */
  private readonly inFlight = new Set<string>();
  private readonly cancels = new Set<TaskId>();
  private readonly taskLocks = new KeyedMutex();
  /**
   * Task records of live leases, as last written by this process. While a task is Staged or
   * Running only the scheduler writes its record (management queues a cancel instead), so the
   * copy is the stored record and the later steps need not read it again.
   */
  private readonly records = new Map<TaskId, TaskRecord>();
  /**
   * Task-record writes of this process in progress, and, per claim in flight, the tasks written
   * since it was sent: the record a claim carries was read by the storage service at some moment
   * during the claim, so for those tasks it may predate the write and is read again.
   */
  private readonly writing = new Map<TaskId, number>();
  private readonly crossing = new Map<string, Set<TaskId>>();
  private readonly stop = new AbortController();
  /** Long polls of nodes in progress that came with a signal of their call (see pullSignal). */
  private readonly pulls = new Set<AbortController>();
  private sweeper: NodeJS.Timeout | undefined;
  private sweeping: Promise<void> | undefined;
  private consumer: Promise<void> | undefined;

  constructor(options: SchedulerOptions) {
    this.store = options.store;
    this.recordStore = new RecordStore(options.store);
    this.intake = new TaskIntake(options.store);
    this.log = options.log ?? silentLogger;
    this.timeoutMs = options.heartbeatTimeoutMs ?? 30_000;
    this.maxAttempts = options.maxAttempts ?? 3;
    this.now = options.now ?? Date.now;
  }

  async start(): Promise<void> {
    for (const uuid of await this.recordStore.list(cancelMarks)) this.cancels.add(uuid);
    const now = this.now();
    for (const key of await this.store.keysByPrefix(buf(NODE_PREFIX))) {
      const id = key.toString("utf8").slice(NODE_PREFIX.length);
      if (isUuid(id)) this.executors.set(id, { lastSeen: now, status: ExecutorStatus.Idle });
    }
    for (const key of await this.store.keysByPrefix(buf(LEASE_PREFIX))) {
      const suffix = key.toString("utf8").slice(LEASE_PREFIX.length);
      const raw = await this.store.get(key);
      if (!raw || !isUuid(suffix)) continue;
      const uuid = TaskId.fromUuid(suffix);
      try {
        const lease = parseLease(raw);
        this.leases.set(uuid, { ...lease, since: now });
        if (lease.state !== "queued") {
          const e = this.executors.get(lease.executor) ?? { lastSeen: now, status: ExecutorStatus.Executing };
          e.task = uuid;
          this.executors.set(lease.executor, e);
        }
      } catch (err) {
        this.log.error({ err, task: uuid }, "malformed lease record ignored");
      }
    }
    this.log.info({ nodes: this.executors.size, leases: this.leases.size }, "scheduler state restored");
    this.consumer = this.consumeCancels();
    this.sweeper = setInterval(
      () => {
        this.sweeping ??= this.sweep()
          .catch((err) => this.log.warn({ err }, "lease sweep failed; will retry"))
          .finally(() => {
            this.sweeping = undefined;
          });
      },
      Math.min(1000, this.timeoutMs / 2),
    );
    this.sweeper.unref();
  }

  async close(): Promise<void> {
    this.stop.abort();
    for (const pull of this.pulls) pull.abort(this.stop.signal.reason);
    if (this.sweeper) clearInterval(this.sweeper);
    for (const e of this.executors.values()) e.wake?.();
    await this.consumer?.catch(() => undefined);
    await this.sweeping;
  }

  /** What the scheduler knows, for status displays and tests. */
  snapshot(): { nodes: number; leases: Array<{ task: string } & Lease> } {
    return {
      nodes: this.executors.size,
      leases: [...this.leases].map(([task, { since: _since, ...l }]) => ({ task, ...l })),
    };
  }

  /** Cancel requests pushed by management's CancelTask (full task JSON). */
  private async consumeCancels(): Promise<void> {
    while (!this.stop.signal.aborted) {
      let uuid: TaskId | undefined;
      try {
        uuid = await this.intake.nextCancel(30_000, this.stop.signal);
      } catch (e) {
        if (this.stop.signal.aborted) return;
        if (e instanceof RecordFormatError) {
          this.log.error({ err: e }, "malformed cancel request dropped");
          continue;
        }
        this.log.warn({ err: e }, "cancel queue unavailable; retrying");
        await new Promise((r) => setTimeout(r, 500));
        continue;
      }
      if (!uuid) continue;
      try {
        await this.recordStore.put(cancelMarks, uuid, Buffer.alloc(0));
        this.cancels.add(uuid);
        for (const e of this.executors.values()) if (e.task === uuid) e.wake?.();
        this.log.info({ task: uuid }, "cancel requested");
      } catch (e) {
        this.log.error({ err: e }, "malformed cancel request dropped");
      }
    }
  }

  /**
   * Expire what can no longer complete: leases of lost nodes, hand-overs never reported Running,
   * and claims no lease owns (the scheduler stopped, or the answer was lost, between the storage
   * service's dequeue and the lease record).
   */
  private async sweep(): Promise<void> {
    const now = this.now();
    for (const [id, e] of this.executors) {
      if (now - e.lastSeen <= this.timeoutMs) continue;
      this.executors.delete(id);
      // An idle slot that long-polls for longer than the timeout is "lost" harmlessly; say so quietly.
      if (e.task) this.log.warn({ executor: id, task: e.task }, "execution node lost");
      else this.log.debug({ executor: id }, "idle execution node forgotten");
      await this.store.delete(nodeKey(id)).catch(() => undefined);
    }
    for (const [uuid, lease] of [...this.leases]) {
      if (lease.state === "queued") continue;
      const holder = this.executors.get(lease.executor);
      if (!holder || holder.task !== uuid)
        await this.expire(uuid, lease.generation, "its execution node was lost");
      else if (lease.state === "handed" && now - lease.since > this.timeoutMs)
        await this.expire(uuid, lease.generation, "it was never reported running");
    }
    for (const key of await this.store.keysByPrefix(buf(CLAIM_PREFIX))) {
      const id = key.toString("utf8").slice(CLAIM_PREFIX.length);
      // Checked now, not from a snapshot: a claim is in flight from before it exists until its
      // lease is in memory, so a live check never mistakes a fresh lease's claim for an orphan.
      if (this.inFlight.has(id) || [...this.leases.values()].some((l) => l.claim === id)) continue;
      const item = await this.store.get(key);
      if (!item) continue;
      // Back to the queue and out of the claim in one step: never both, never neither.
      await this.intake.requeue(item, [{ type: "del", key }]);
      this.log.warn({ claim: id }, "unleased claim put back on the queue");
    }
  }

  /**
   * A lease that can no longer complete: re-queue its task (atomically with the lease update),
   * or fail it once every attempt is used.
   */
  private async expire(uuid: TaskId, generation: number, why: string): Promise<void> {
    await this.withTask(uuid, async () => {
      const lease = this.leases.get(uuid);
      if (!lease || lease.state === "queued" || lease.generation !== generation) return;
      const task = await this.loadTaskOptional(uuid);
      const cleanup: BatchOp[] = [
        { type: "del", key: leaseKey(uuid) },
        ...(lease.claim ? [{ type: "del" as const, key: claimKey(lease.claim) }] : []),
      ];
      if (!task || isEnded(task.status)) {
        await this.store.batch(cleanup);
        this.forget(uuid);
        return;
      }
      const staged = lease.claim ? await this.store.get(claimKey(lease.claim)) : undefined;
      if (lease.attempts >= this.maxAttempts || !staged) {
        const reason = staged
          ? `${EXECUTOR_TIMEOUT_REASON} (handed to an execution node ${lease.attempts} times and lost each time; not retried)`
          : `${EXECUTOR_TIMEOUT_REASON} (the staged task could not be recovered)`;
        const failed: TaskRecord = { ...task, status: TaskStatus.Failed, result: { kind: "Err", reason } };
        await this.writeTask(uuid, () =>
          this.recordStore.commit(this.txn(cleanup).put(taskRecords, uuid, failed)),
        );
        this.forget(uuid);
        this.log.warn({ task: uuid, attempts: lease.attempts, why }, "task failed: lease expired");
        return;
      }
      const queued: Lease = { ...lease, claim: "", executor: "", state: "queued" };
      await this.intake.requeue(staged, [
        { type: "put", key: leaseKey(uuid), value: serializeLease(queued) },
        { type: "del", key: claimKey(lease.claim) },
      ]);
      this.leases.set(uuid, { ...queued, since: this.now() });
      this.records.delete(uuid);
      this.release(lease.executor, uuid);
      this.log.warn(
        { task: uuid, generation, attempts: lease.attempts, why },
        "lease expired; task re-queued",
      );
    });
  }

  private forget(uuid: TaskId): void {
    const lease = this.leases.get(uuid);
    this.leases.delete(uuid);
    this.records.delete(uuid);
    if (lease) this.release(lease.executor, uuid);
  }

  private release(executor: string, uuid: TaskId): void {
    const e = this.executors.get(executor);
    if (e?.task === uuid) {
      e.task = undefined;
      e.wake?.();
    }
  }

  private async executor(id: string): Promise<ExecutorState> {
    if (!isUuid(id)) throw cloisterError("INVALID_EXECUTOR_ID");
    let e = this.executors.get(id);
    if (!e) {
      // Durable first: a node the scheduler admitted is remembered across its restarts.
      await this.store.put(nodeKey(id), buf(JSON.stringify({ since: new Date().toISOString() })));
      e = this.executors.get(id) ?? { lastSeen: this.now(), status: ExecutorStatus.Idle };
      this.executors.set(id, e);
    }
    return e;
  }

  /**
   * Heartbeat. `runningTask` and `generation` let a node that outlived a scheduler
   * restart re-announce its task; a node quoting a lease it no longer holds gets Stop. `waitMs` > 0
   * holds the answer until there is a command (a Stop) or the time is up.
   */
  async heartbeat(
    executorId: string,
    status: number,
    options: { waitMs?: number; runningTask?: string; generation?: number } = {},
  ): Promise<ExecutorCommand> {
    if (status !== ExecutorStatus.Idle && status !== ExecutorStatus.Executing) {
      throw cloisterError("INVALID_EXECUTOR_STATUS");
    }
    const e = await this.executor(executorId);
    e.lastSeen = this.now();
    e.status = status;
    if (status === ExecutorStatus.Idle) {
      // The node runs nothing: a lease it had reported Running cannot complete any more.
      // (A hand-over not yet reported Running may cross this heartbeat; its own timer covers it.)
      const held = e.task ? this.leases.get(e.task) : undefined;
      if (e.task && held?.state === "running" && held.executor === executorId)
        await this.expire(e.task, held.generation, "its node reported idle");
      if (held?.state !== "handed") e.task = undefined;
    } else if (options.runningTask && isUuid(options.runningTask)) {
      const uuid = TaskId.fromUuid(options.runningTask);
      const lease = this.leases.get(uuid);
      if (options.generation) {
        if (!lease || lease.state === "queued" || lease.generation !== options.generation) {
          this.log.warn(
            { executor: executorId, task: uuid },
            "node runs a task it holds no lease on; stopping it",
          );
          return ExecutorCommand.Stop;
        }
        e.task = uuid;
      } else if (!e.task) e.task = uuid;
    }

    const command = async (): Promise<ExecutorCommand | undefined> => {
      if (!e.task || e.status !== ExecutorStatus.Executing) return undefined;
      if (options.generation && options.runningTask?.toLowerCase() === e.task) {
        const lease = this.leases.get(e.task);
        if (!lease || lease.generation !== options.generation) return ExecutorCommand.Stop;
      }
      if (this.cancels.has(e.task)) {
        const uuid = e.task;
        await this.updateTask(uuid, cancelByUser);
        await this.clearCancel(uuid);
        return ExecutorCommand.Stop;
      }
      return undefined;
    };
    const now = await command();
    if (now !== undefined) return now;
    if (options.waitMs && options.waitMs > 0 && e.status === ExecutorStatus.Executing) {
      // Answer well within the node timeout: a held heartbeat must never look like a lost node.
      const waitMs = Math.min(options.waitMs, this.timeoutMs / 3);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, waitMs);
        function done() {
          clearTimeout(timer);
          resolve();
        }
        e.wake = done;
      });
      e.wake = undefined;
      e.lastSeen = this.now();
      if (options.generation && options.runningTask && !e.task) return ExecutorCommand.Stop;
      const later = await command();
      if (later !== undefined) return later;
      return ExecutorCommand.NoAction;
    }
    // A legacy node only pulls after NewTask; we cannot peek the durable queue cheaply, so an idle
    // node is invited to pull and gets "task queue is empty" when there is nothing.
    return e.status === ExecutorStatus.Idle ? ExecutorCommand.NewTask : ExecutorCommand.NoAction;
  }

  /**
   * PullTask, answered with a lease. With `waitMs` the call long-polls the durable
   * queue; a task whose cancel was requested while queued is canceled and skipped, and a copy of a
   * task that is already leased or ended is dropped.
   */
  async pullTask(
    executorId: string,
    options: { waitMs?: number; signal?: AbortSignal; markRunning?: boolean } = {},
  ): Promise<HandedTask> {
    const e = await this.executor(executorId);
    e.lastSeen = this.now();
    // One executor id runs one task: asking for another abandons the one it holds.
    if (e.task) {
      const held = this.leases.get(e.task);
      if (held && held.state !== "queued" && held.executor === executorId)
        await this.expire(e.task, held.generation, "its node asked for another task");
    }
    const deadline = this.now() + (options.waitMs ?? 0);
    const { signal, release } = this.pullSignal(options.signal);
    try {
      return await this.pullLoop(executorId, deadline, signal, options);
    } finally {
      release();
    }
  }

  /**
   * A signal that aborts when the call's does or the scheduler stops. Not AbortSignal.any: that
   * cost 10 µs per call and registered every pull on the long-lived stop signal.
   */
  private pullSignal(call: AbortSignal | undefined): { signal: AbortSignal; release: () => void } {
    if (!call) return { signal: this.stop.signal, release: () => {} };
    const pull = new AbortController();
    const onAbort = () => pull.abort(call.reason);
    if (call.aborted) pull.abort(call.reason);
    else if (this.stop.signal.aborted) pull.abort(this.stop.signal.reason);
    else call.addEventListener("abort", onAbort, { once: true });
    this.pulls.add(pull);
    return {
      signal: pull.signal,
      release: () => {
        call.removeEventListener("abort", onAbort);
        this.pulls.delete(pull);
      },
    };
  }

  private async pullLoop(
    executorId: string,
    deadline: number,
    signal: AbortSignal,
    options: { waitMs?: number; markRunning?: boolean },
  ): Promise<HandedTask> {
    for (;;) {
      const remaining = Math.max(0, deadline - this.now());
      const claim = randomUUID();
      this.inFlight.add(claim);
      try {
        this.crossing.set(claim, new Set(this.writing.keys()));
        const running = options.markRunning ?? false;
        let item: Buffer;
        let outcome: number | "canceled" | "dropped";
        if (this.intake.claimsWithOps) {
          // The lease (and the Running record) in the claim's own write where the backend can.
          let prepared: PreparedLease | undefined;
          let claimed: Buffer | undefined;
          try {
            claimed = await this.intake.claimWith(claimKey(claim), remaining, signal, async (element) => {
              prepared = await this.prepareLease(executorId, claim, element, running);
              return prepared?.ops ?? [];
            });
          } catch (e) {
            prepared?.release();
            throw e;
          }
          if (!claimed) throw cloisterError("TASK_QUEUE_EMPTY");
          item = claimed;
          outcome = prepared
            ? await prepared.commit().finally(() => prepared?.release())
            : await this.lease(executorId, claim, item, running);
        } else {
          const claimed = await this.intake.claimWithRecord(claimKey(claim), remaining, signal);
          if (!claimed) throw cloisterError("TASK_QUEUE_EMPTY");
          item = claimed.element;
          outcome = await this.lease(executorId, claim, item, running, claimed.record);
        }
        if (outcome === "canceled" && !options.waitMs) throw cloisterError("PULLED_TASK_CANCELED");
        if (typeof outcome === "number") return { stagedTask: item, generation: outcome, running };
      } finally {
        this.inFlight.delete(claim);
        this.crossing.delete(claim);
      }
    }
  }

  /**
   * Turn a claim into a lease for `executorId`; the generation, or why the claim was dropped.
   * With `running` the task is recorded Running in the same write as the lease (a Cloister node
   * starts it on receipt), which saves the node's status report and two storage steps.
   */
  private async lease(
    executorId: string,
    claim: string,
    item: Buffer,
    running = false,
    carried?: Buffer,
  ): Promise<number | "canceled" | "dropped"> {
    let uuid: TaskId;
    try {
      uuid = this.intake.taskIdOf(item);
    } catch (err) {
      this.log.error({ err }, "malformed staged task dropped");
      await this.store.delete(claimKey(claim));
      return "dropped";
    }
    return this.withTask(uuid, async () => {
      // Under the lock no write of ours to this task can start, so the crossing set is final.
      const fresh = carried !== undefined && !this.crossing.get(claim)?.has(uuid);
      this.crossing.delete(claim);
      const prev = this.leases.get(uuid);
      const drop = async (why: string) => {
        this.log.info({ task: uuid, why }, "staged task not handed over");
        await this.store.batch([
          { type: "del", key: claimKey(claim) },
          ...(prev?.state === "queued" ? [{ type: "del" as const, key: leaseKey(uuid) }] : []),
        ]);
        if (prev?.state === "queued") this.leases.delete(uuid);
      };
      if (this.cancels.has(uuid)) {
        const task = await this.loadTaskOptional(uuid);
        if (task && !isEnded(task.status)) {
          await this.writeTask(uuid, () => this.recordStore.put(taskRecords, uuid, cancelByUser(task)));
        }
        await this.clearCancel(uuid);
        await drop("canceled");
        return "canceled";
      }
      if (prev && prev.state !== "queued") {
        // A second copy of a task somebody holds (an earlier re-queue whose answer was lost).
        await this.store.delete(claimKey(claim));
        return "dropped";
      }
      const task = fresh ? this.decodeTask(carried) : await this.loadTaskOptional(uuid);
      if (!task || (task.status !== TaskStatus.Staged && task.status !== TaskStatus.Running)) {
        await drop(task ? "task is not staged" : "task unknown");
        return "dropped";
      }
      const { lease, record, writes } = this.leaseWrites(uuid, claim, executorId, prev, task, running);
      await this.writeTask(uuid, () => this.recordStore.commit(writes));
      return this.handedOver(uuid, executorId, lease, record);
    });
  }

  /** A new lease of `task` to `executorId` (after `prev`), and its writes with the task's record. */
  private leaseWrites(
    uuid: TaskId,
    claim: string,
    executorId: string,
    prev: Lease | undefined,
    task: TaskRecord,
    running: boolean,
  ) {
    const lease: Lease = {
      claim,
      generation: (prev?.generation ?? 0) + 1,
      attempts: (prev?.attempts ?? 0) + 1,
      executor: executorId,
      state: running ? "running" : "handed",
    };
    const record = running && task.status === TaskStatus.Staged ? markRunning(task) : task;
    const writes = this.txn([{ type: "put", key: leaseKey(uuid), value: serializeLease(lease) }]);
    if (record !== task) writes.put(taskRecords, uuid, record);
    return { lease, record, writes };
  }

  /** The memory of a lease once its writes are durable; its generation. */
  private async handedOver(uuid: TaskId, executorId: string, lease: Lease, record: TaskRecord) {
    this.leases.set(uuid, { ...lease, since: this.now() });
    this.records.set(uuid, record);
    // The node may have been declared lost while it long-polled: it is back.
    const e = await this.executor(executorId);
    e.lastSeen = this.now();
    e.task = uuid;
    this.log.debug(
      { task: uuid, executor: executorId, generation: lease.generation },
      "task handed to an execution node",
    );
    return lease.generation;
  }

  /**
   * The writes of `lease` for the common case (no cancel, no other lease, the task Staged or
   * Running), prepared while the backend holds the claim's queue step so that they go in the
   * claim's atomic write: a crash leaves the element queued with no lease, or claimed with its
   * lease and record, never the claim alone. Holds the task's lock from here until `release`
   * (taken only if free: waiting here could wait on a queue step that waits on us). Undefined
   * when anything is unusual; then the claim is written alone and `lease` decides as before.
   */
  private async prepareLease(
    executorId: string,
    claim: string,
    element: Buffer,
    running: boolean,
  ): Promise<PreparedLease | undefined> {
    let uuid: TaskId;
    try {
      uuid = this.intake.taskIdOf(element);
    } catch {
      return undefined;
    }
    const unlock = this.taskLocks.tryAcquire(uuid);
    if (!unlock) return undefined;
    // From here the task counts as being written (see writeTask): claims in flight re-read it.
    const written = this.beginWrite(uuid);
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      written();
      unlock();
    };
    try {
      const prev = this.leases.get(uuid);
      if (this.cancels.has(uuid) || (prev && prev.state !== "queued")) {
        release();
        return undefined;
      }
      const task = await this.loadTaskOptional(uuid);
      if (!task || (task.status !== TaskStatus.Staged && task.status !== TaskStatus.Running)) {
        release();
        return undefined;
      }
      const { lease, record, writes } = this.leaseWrites(uuid, claim, executorId, prev, task, running);
      return {
        ops: writes.ops,
        release,
        commit: () => this.handedOver(uuid, executorId, lease, record),
      };
    } catch {
      release();
      return undefined;
    }
  }

  /**
   * A hand-over the node never saw (its call was gone when the answer was ready): the task goes
   * back to the queue without using up an attempt.
   */
  async returnTask(stagedTask: Buffer, generation: number): Promise<void> {
    const uuid = this.intake.taskIdOf(stagedTask);
    await this.withTask(uuid, async () => {
      const lease = this.leases.get(uuid);
      if (!lease || lease.state === "queued" || lease.generation !== generation) return;
      const queued: Lease = {
        ...lease,
        claim: "",
        executor: "",
        state: "queued",
        attempts: lease.attempts - 1,
      };
      await this.intake.requeue(stagedTask, [
        { type: "put", key: leaseKey(uuid), value: serializeLease(queued) },
        { type: "del", key: claimKey(lease.claim) },
      ]);
      this.leases.set(uuid, { ...queued, since: this.now() });
      this.records.delete(uuid);
      this.release(lease.executor, uuid);
    });
  }

  /**
   * UpdateTaskStatus: Staged → Running whatever status is sent (legacy rule). With a
   * generation (Cloister nodes) the caller must hold the task's current lease; a task re-run after
   * a lost node is already Running and stays so.
   */
  async updateTaskStatus(taskId: string, generation?: number): Promise<void> {
    const uuid = this.taskUuid(taskId);
    await this.withTask(uuid, async () => {
      const lease = this.leases.get(uuid);
      const current = lease && lease.state !== "queued" ? lease : undefined;
      if (generation !== undefined && current?.generation !== generation) throw stale();
      const task = (current && this.records.get(uuid)) ?? (await this.loadTask(uuid));
      const running = current && task.status === TaskStatus.Running ? task : markRunning(task);
      const writes = this.txn([]);
      if (running !== task) writes.put(taskRecords, uuid, running);
      if (current && current.state !== "running") {
        const next: Lease = { ...withoutSince(current), state: "running" };
        writes.raw({ type: "put", key: leaseKey(uuid), value: serializeLease(next) });
        this.leases.set(uuid, { ...next, since: this.now() });
      }
      await this.writeTask(uuid, () => this.recordStore.commit(writes));
      if (current) this.records.set(uuid, running);
    });
    this.log.debug({ task: uuid, generation }, "task running");
  }

  /**
   * UpdateTaskResult: Running → Finished with the result, output cmacs recorded. With
   * a generation the caller must hold the current lease; the same result sent again after its
   * answer was lost is accepted once more without effect.
   */
  async updateTaskResult(taskId: string, result: TaskResult, generation?: number): Promise<void> {
    const uuid = this.taskUuid(taskId);
    await this.withTask(uuid, async () => {
      const lease = this.leases.get(uuid);
      const live = lease && lease.state !== "queued" ? this.records.get(uuid) : undefined;
      const task = live ?? (await this.loadTask(uuid));
      if (generation !== undefined) {
        const holds = lease && lease.state !== "queued" && lease.generation === generation;
        if (!holds && !(lease === undefined && isEnded(task.status))) throw stale();
      }
      const cleanup: BatchOp[] = lease
        ? [
            { type: "del", key: leaseKey(uuid) },
            ...(lease.claim ? [{ type: "del" as const, key: claimKey(lease.claim) }] : []),
          ]
        : [];
      if (isEnded(task.status) && (task.status === TaskStatus.Canceled || generation !== undefined)) {
        // Canceled meanwhile, or a repeated report: the late result is dropped.
        if (cleanup.length) await this.store.batch(cleanup);
        this.forget(uuid);
        return;
      }
      const { task: done, updatedOutputs } = finishWithResult(task, result);
      const writes = this.txn(cleanup).put(taskRecords, uuid, done);
      for (const o of updatedOutputs) writes.put(outputRecords, OutputId.fromUuid(o.uuid), o);
      await this.writeTask(uuid, () => this.recordStore.commit(writes));
      this.forget(uuid);
    });
    for (const e of this.executors.values()) if (e.task === uuid) e.task = undefined;
    await this.clearCancel(uuid);
    this.log.debug({ task: uuid, result: result.kind, generation }, "task result recorded");
  }

  /** Whether `generation` is the live lease of task `uuid` (fences task-log appends). */
  holdsLease(uuid: string, generation: number): boolean {
    const lease = isUuid(uuid) ? this.leases.get(TaskId.fromUuid(uuid)) : undefined;
    return lease !== undefined && lease.state !== "queued" && lease.generation === generation;
  }

  /** Executors as last heard from and the leased tasks, for status (read-only, in memory). */
  view(): { executors: Array<{ id: string; lastSeen: number; task?: string }>; leased: number } {
    const executors = [...this.executors].map(([id, e]) => ({
      id,
      lastSeen: e.lastSeen,
      ...(e.task ? { task: e.task } : {}),
    }));
    const leased = [...this.leases.values()].filter((l) => l.state !== "queued").length;
    return { executors, leased };
  }

  /** PublishTask (legacy, unused by the platform): append a staged task to the durable queue. */
  async publishTask(stagedTask: Buffer): Promise<void> {
    try {
      await this.intake.publish(stagedTask);
    } catch (e) {
      if (e instanceof RecordFormatError) throw cloisterError("INVALID_STAGED_TASK", { reason: e.message });
      throw e;
    }
  }

  /** The scheduler protocol names tasks by bare UUID (the only conversion of a task id here). */
  private taskUuid(taskId: string): TaskId {
    try {
      return TaskId.fromUuid(taskId);
    } catch {
      throw cloisterError("SCHEDULER_INVALID_TASK_ID");
    }
  }

  private txn(ops: BatchOp[]): RecordTransaction {
    const t = this.recordStore.transaction();
    for (const op of ops) t.raw(op);
    return t;
  }

  private async clearCancel(uuid: TaskId): Promise<void> {
    if (!this.cancels.delete(uuid)) return;
    await this.recordStore.delete(cancelMarks, uuid);
  }

  /** A write of task `uuid`'s record: claims in flight meanwhile do not trust the record they carry. */
  private async writeTask<T>(uuid: TaskId, write: () => Promise<T>): Promise<T> {
    const written = this.beginWrite(uuid);
    try {
      return await write();
    } finally {
      written();
    }
  }

  /** Counts `uuid` as being written (claims in flight re-read it) until the returned function runs. */
  private beginWrite(uuid: TaskId): () => void {
    this.writing.set(uuid, (this.writing.get(uuid) ?? 0) + 1);
    for (const touched of this.crossing.values()) touched.add(uuid);
    return () => {
      const left = (this.writing.get(uuid) ?? 1) - 1;
      if (left > 0) this.writing.set(uuid, left);
      else this.writing.delete(uuid);
    };
  }

  private decodeTask(raw: Buffer): TaskRecord {
    return taskRecords.decode(raw);
  }

  private loadTaskOptional(uuid: TaskId): Promise<TaskRecord | undefined> {
    return this.recordStore.get(taskRecords, uuid);
  }

  private async loadTask(uuid: TaskId): Promise<TaskRecord> {
    const task = await this.loadTaskOptional(uuid);
    if (!task) throw cloisterError("INTERNAL");
    return task;
  }

  private async updateTask(uuid: TaskId, change: (t: TaskRecord) => TaskRecord): Promise<void> {
    await this.withTask(uuid, async () => {
      const task = await this.loadTask(uuid);
      if (isEnded(task.status)) return;
      const next = change(task);
      if (next !== task) await this.writeTask(uuid, () => this.recordStore.put(taskRecords, uuid, next));
      if (this.records.has(uuid)) this.records.set(uuid, next);
    });
  }

  /** One read-modify-write at a time per task. */
  private withTask<T>(uuid: TaskId, fn: () => Promise<T>): Promise<T> {
    return this.taskLocks.run(uuid, fn);
  }
}

const withoutSince = ({ since: _since, ...lease }: LiveLease): Lease => lease;

/** A lease whose writes go in the claim's write: `commit` once written, `release` in any case. */
interface PreparedLease {
  ops: BatchOp[];
  commit(): Promise<number>;
  release(): void;
}
