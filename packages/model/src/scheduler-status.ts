// The scheduler's snapshot of the task path (`cloister status`): written by the scheduler every
// few seconds under `schedulerStatusRecords`, read by management for callers.
import type { extensions } from "@cloister/proto";
import { RecordFormatError } from "./read.js";
import { plainJsonCodec, type RecordCodec } from "./records/codec.js";

/** The snapshot as stored (plain JSON); `lastSeen` and `at` are epoch milliseconds. */
export interface SchedulerStatusSnapshot {
  at: number;
  queueDepth: number;
  runningTasks: number;
  nodes: Array<{
    node: extensions.ExecutionNodeInfo;
    slots: Array<{ executorId: string; runningTaskId: string; lastSeen: number }>;
  }>;
}

export const schedulerStatusCodec: RecordCodec<SchedulerStatusSnapshot> = plainJsonCodec(
  "scheduler status",
  (parsed) => {
    const o = parsed as Partial<SchedulerStatusSnapshot> | null;
    if (typeof o !== "object" || o === null || !Array.isArray(o.nodes))
      throw new RecordFormatError("scheduler status: nodes must be a list");
    return {
      at: Number(o.at) || 0,
      queueDepth: Number(o.queueDepth) || 0,
      runningTasks: Number(o.runningTasks) || 0,
      nodes: o.nodes,
    };
  },
);
