import { cloisterError, hasKind } from "@cloister/core";
import { boundAddress, type RunningService, type ServiceContext } from "@cloister/host";
import {
  stagedTasks,
  TASK_EVIDENCE_MAX_BYTES,
  TaskId,
  taskEvidenceRecords,
  taskRecords,
  taskResultFromProto,
} from "@cloister/model";
import { Empty, extensions, scheduler as proto } from "@cloister/proto";
import { logging, type RpcContext, serve, uniformPolicy } from "@cloister/rpc";
import { RecordStore } from "@cloister/storage";
import { type HandedTask, Scheduler } from "./scheduler.js";
import { NodeDirectory, startStatusSnapshots } from "./status.js";
import { TaskLogWriter } from "./task-log.js";

const MAX_WAIT_MS = 25_000;
const NOT_FOUND = { found: false, stagedTask: Buffer.alloc(0), leaseGeneration: 0, running: false };

/** uint64 on the wire; 0 means "not sent" (a node that predates leases). */
function generationOf(v: number): number | undefined {
  const n = Number(v);
  return Number.isSafeInteger(n) && n > 0 ? n : undefined;
}

function requiredGeneration(v: number): number {
  const n = generationOf(v);
  if (n === undefined) throw cloisterError("LEASE_GENERATION_MISSING");
  return n;
}

/** A bare lowercase UUID, as execution nodes send task ids. */
function bareTaskId(s: string): TaskId {
  const invalid = () => cloisterError("INVALID_TASK_ID");
  let id: TaskId;
  try {
    id = TaskId.fromUuid(s);
  } catch {
    throw invalid();
  }
  if (id !== s) throw invalid();
  return id;
}

/** The scheduler (17780, for execution nodes only). */
export async function start(ctx: ServiceContext): Promise<RunningService> {
  const store = ctx.peerStore();
  const scheduler = new Scheduler({
    store,
    log: ctx.log,
    heartbeatTimeoutMs: ctx.config.execution.heartbeat_timeout_secs * 1000,
    maxAttempts: ctx.config.execution.task_max_attempts,
  });
  await scheduler.start();
  const records = new RecordStore(store);
  const log = ctx.log;
  const taskLogs = new TaskLogWriter(records, (uuid, generation) => scheduler.holdsLease(uuid, generation));
  const nodes = new NodeDirectory();
  const snapshots = startStatusSnapshots({
    store,
    records,
    view: () => scheduler.view(),
    directory: nodes,
    log,
    onQueueDepth: (depth, running) => {
      ctx.metrics.queueDepth.set({ queue: "staged" }, depth);
      ctx.metrics.queueDepth.set({ queue: "running" }, running);
    },
  });

  /** A task leased to a caller that hung up goes back to the queue at once instead of waiting out its lease. */
  const handOver = async (handed: HandedTask, rc: RpcContext): Promise<HandedTask | undefined> => {
    if (!rc.cancelled()) return handed;
    await scheduler.returnTask(handed.stagedTask, handed.generation);
    return undefined;
  };

  let closing = false;
  /**
   * Hands the slot `req` names a staged task, waiting up to `waitMs` for one: leased and recorded
   * Running in one write; a task whose caller hung up meanwhile goes back to the queue.
   */
  const handTo = async (
    req: extensions.PullTaskWaitRequest,
    waitMs: number,
    rc: RpcContext,
  ): Promise<extensions.PullTaskWaitResponse> => {
    nodes.seen(req.executorId, req.node);
    const handed = await handOver(
      await scheduler.pullTask(req.executorId, { waitMs, markRunning: true }),
      rc,
    );
    if (!handed) return NOT_FOUND;
    if (handed.running) ctx.metrics.tasks.inc({ state: "running" });
    return {
      found: true,
      stagedTask: handed.stagedTask,
      leaseGeneration: handed.generation,
      running: handed.running,
    };
  };
  /** A slot's next task if one is staged now (the result report's `next`); NOT_FOUND otherwise. */
  const handNext = async (
    req: extensions.PullTaskWaitRequest,
    rc: RpcContext,
  ): Promise<extensions.PullTaskWaitResponse> => {
    if (closing) return NOT_FOUND;
    try {
      return await handTo(req, 0, rc);
    } catch (e) {
      // The result is recorded whatever happens here: a failed hand-over must not fail its report.
      if (!hasKind(e, "TASK_QUEUE_EMPTY") && !hasKind(e, "PULLED_TASK_CANCELED") && !closing)
        log.warn(
          { err: e, executor: req.executorId },
          "handing the next task with a result failed; the slot polls",
        );
      return NOT_FOUND;
    }
  };
  const server = ctx.internalServer();
  // Every method has the same callers: the attested execution nodes the endpoint's connection check admits.
  const layers = [logging(log)];
  serve<proto.TeaclaveSchedulerServer>(
    server,
    proto.TeaclaveSchedulerService,
    {
      publishTask: async (req: proto.PublishTaskRequest) => {
        await scheduler.publishTask(req.stagedTask);
        ctx.metrics.tasks.inc({ state: "staged" });
        return Empty.fromPartial({});
      },
      subscribe: async () => {
        throw cloisterError("SUBSCRIBE_UNIMPLEMENTED");
      },
      pullTask: async (req: proto.PullTaskRequest, rc: RpcContext) => {
        const handed = await handOver(await scheduler.pullTask(req.executorId), rc);
        // A legacy node reads the legacy (version 1) staged task JSON.
        return { stagedTask: handed ? stagedTasks.inVersion(handed.stagedTask, 1) : Buffer.alloc(0) };
      },
      updateTaskStatus: async (req: proto.UpdateTaskStatusRequest) => {
        await scheduler.updateTaskStatus(req.taskId);
        ctx.metrics.tasks.inc({ state: "running" });
        return Empty.fromPartial({});
      },
      updateTaskResult: async (req: proto.UpdateTaskResultRequest) => {
        if (!req.result) throw cloisterError("TASK_RESULT_MISSING");
        const result = taskResultFromProto(req.result);
        await scheduler.updateTaskResult(req.taskId, result);
        ctx.metrics.tasks.inc({ state: result.kind === "Ok" ? "finished" : "failed" });
        return Empty.fromPartial({});
      },
      heartbeat: async (req: proto.HeartbeatRequest) => ({
        command: await scheduler.heartbeat(req.executorId, req.status),
      }),
    },
    { layers, policy: uniformPolicy(proto.TeaclaveSchedulerService, "peer"), log },
  );
  serve<extensions.CloisterSchedulerServer>(
    server,
    extensions.CloisterSchedulerService,
    {
      pullTaskWait: async (req: extensions.PullTaskWaitRequest, rc: RpcContext) => {
        try {
          return await handTo(req, Math.min(req.waitMs, MAX_WAIT_MS), rc);
        } catch (e) {
          // A poll the scheduler's own shutdown aborted hands out nothing; the node polls again.
          if (hasKind(e, "TASK_QUEUE_EMPTY") || closing) return NOT_FOUND;
          throw e;
        }
      },
      heartbeatWait: async (req: extensions.HeartbeatWaitRequest) => {
        nodes.seen(req.executorId, req.node);
        return {
          command: await scheduler.heartbeat(req.executorId, req.status, {
            waitMs: Math.min(req.waitMs, MAX_WAIT_MS),
            runningTask: req.runningTaskId || undefined,
            generation: generationOf(req.leaseGeneration),
          }),
        };
      },
      updateTaskStatusLeased: async (req: extensions.LeasedTaskStatusRequest) => {
        await scheduler.updateTaskStatus(req.taskId, requiredGeneration(req.leaseGeneration));
        ctx.metrics.tasks.inc({ state: "running" });
        return Empty.fromPartial({});
      },
      updateTaskResultLeased: async (req: extensions.LeasedTaskResultRequest, rc: RpcContext) => {
        if (!req.result) throw cloisterError("LEASED_RESULT_MISSING");
        const result = taskResultFromProto(req.result);
        await scheduler.updateTaskResult(req.taskId, result, requiredGeneration(req.leaseGeneration));
        ctx.metrics.tasks.inc({ state: result.kind === "Ok" ? "finished" : "failed" });
        // The result is durable; only then does the slot get its next task, and never by waiting,
        // so the answer (the result's acknowledgement) is not held back.
        return { next: req.next ? await handNext(req.next, rc) : undefined };
      },
      recordTaskEvidence: async (req: extensions.RecordTaskEvidenceRequest) => {
        // Kept only for a task that exists, bounded in size; readable through management.
        const taskId = bareTaskId(req.taskId);
        if (req.evidence.length > TASK_EVIDENCE_MAX_BYTES) {
          throw cloisterError("TASK_EVIDENCE_TOO_LARGE");
        }
        if (!(await records.backend.get(taskRecords.key(taskId))))
          throw cloisterError("TASK_EVIDENCE_NOT_FOUND");
        await records.put(taskEvidenceRecords, taskId, Buffer.from(req.evidence));
        return Empty.fromPartial({});
      },
      appendTaskLog: async (req: extensions.AppendTaskLogRequest) => {
        if (!/^[0-9a-f-]{36}$/.test(req.taskId)) throw cloisterError("INVALID_TASK_ID");
        await taskLogs.append(req.taskId, requiredGeneration(req.leaseGeneration), req.lines, req.truncated);
        return Empty.fromPartial({});
      },
    },
    { layers, policy: uniformPolicy(extensions.CloisterSchedulerService, "peer"), log },
  );
  const port = await server.listen(ctx.config.listen.scheduler);
  return {
    endpoints: [{ name: "scheduler (internal)", address: boundAddress(ctx.config.listen.scheduler, port) }],
    async close() {
      closing = true;
      await snapshots.stop();
      await scheduler.close();
      await server.close();
      await store.close();
    },
  };
}
