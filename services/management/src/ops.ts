// Cloister extensions of management for operators and participants: one read of a task's own log
// (participants only, like GetTask) and the platform status (the scheduler's snapshot of nodes
// and queue; counts for every authenticated user, node details for PlatformAdmin).
import { cloisterError, parseRole } from "@cloister/core";
import {
  schedulerStatusRecords,
  TaskId,
  type TaskRecord,
  taskLogRecords,
  taskRecords,
} from "@cloister/model";
import type { extensions } from "@cloister/proto";
import type { RecordStore } from "@cloister/storage";
import type { Caller } from "./service.js";

/** Lines one read returns at most (the frontend reads again for the rest). */
const READ_MAX_LINES = 2000;

const denied = () => cloisterError("PERMISSION_DENIED");

export class OpsReads {
  constructor(private readonly records: Pick<RecordStore, "get" | "find">) {}

  private async participantTask(caller: Caller, taskId: string): Promise<TaskRecord> {
    if (!caller.id) throw cloisterError("CALLER_ID_MISSING");
    const uuid = TaskId.tryParse(taskId);
    const task = uuid ? await this.records.find(taskRecords, uuid) : undefined;
    if (!task) throw cloisterError("INVALID_TASK_ID");
    // PlatformAdmin is not exempt: a task's log is its participants' alone.
    if (!task.participants.has(caller.id)) throw denied();
    return task;
  }

  async readTaskLog(
    caller: Caller,
    req: extensions.ReadTaskLogRequest,
  ): Promise<extensions.ReadTaskLogResponse> {
    const task = await this.participantTask(caller, req.taskId);
    const kept = task.functionArguments.get("save_log") === "true";
    const record = kept ? await this.records.get(taskLogRecords, task.uuid) : undefined;
    const offset = Math.min(Math.max(0, req.offset >>> 0), record?.lines.length ?? 0);
    const lines = record ? record.lines.slice(offset, offset + READ_MAX_LINES) : [];
    return {
      lines,
      nextOffset: offset + lines.length,
      truncated: record?.truncated === true && offset + lines.length === record.lines.length,
      kept,
      status: task.status,
    };
  }

  async platformStatus(caller: Caller): Promise<extensions.PlatformStatus> {
    if (!caller.id) throw cloisterError("CALLER_ID_MISSING");
    const snap = await this.records.get(schedulerStatusRecords, "scheduler");
    const nodes = snap?.nodes ?? [];
    const slots = nodes.flatMap((n) => n.slots);
    const admin = parseRole(caller.role).name === "PlatformAdmin";
    const now = Date.now();
    return {
      queueDepth: snap?.queueDepth ?? 0,
      runningTasks: snap?.runningTasks ?? 0,
      nodeCount: nodes.length,
      slotsTotal: slots.length,
      slotsBusy: slots.filter((s) => s.runningTaskId).length,
      detailed: admin,
      nodes: admin
        ? nodes.map((n) => ({
            node: n.node,
            slots: n.slots.map((s) => ({
              executorId: s.executorId,
              runningTaskId: s.runningTaskId,
              lastSeenMsAgo: Math.max(0, now - s.lastSeen),
            })),
          }))
        : [],
    };
  }
}
