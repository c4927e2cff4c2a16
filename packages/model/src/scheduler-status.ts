// The scheduler's snapshot of the task path (`cloister status`): written by the scheduler every
// few seconds under `schedulerStatusRecords`, read by management for callers.
import type { extensions } from "@cloister/proto";
import { RecordFormatError } from "./read.js";
import type { RecordCodec } from "./records/codec.js";

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

export const schedulerStatusCodec: RecordCodec<SchedulerStatusSnapshot> = {
  encode: (snapshot) => Buffer.from(JSON.stringify(snapshot), "utf8"),
  decode(raw) {
    let o: Partial<SchedulerStatusSnapshot>;
    try {
      o = JSON.parse(
        typeof raw === "string" ? raw : raw.toString("utf8"),
      ) as Partial<SchedulerStatusSnapshot>;
    } catch {
      throw new RecordFormatError("scheduler status: not JSON");
    }
    if (typeof o !== "object" || o === null || !Array.isArray(o.nodes))
      throw new RecordFormatError("scheduler status: nodes must be a list");
    return {
      at: Number(o.at) || 0,
      queueDepth: Number(o.queueDepth) || 0,
      runningTasks: Number(o.runningTasks) || 0,
      nodes: o.nodes,
    };
  },
};
