import { type TaskRecord, taskFromJsonValue, taskToJsonValue } from "../task.js";
import { uuidSuffix } from "./bare.js";
import { jsonCodec } from "./codec.js";
import { TaskId } from "./ids.js";
import { rawCodec, recordType } from "./type.js";

/** `task-<uuid>`: a task, written by management and updated by the scheduler. */
export const taskRecords = recordType<TaskId, TaskRecord>({
  name: "task",
  prefix: "task-",
  codec: jsonCodec("task", taskToJsonValue, taskFromJsonValue),
  idOfSuffix: uuidSuffix(TaskId),
});

/** `evidence-task-<uuid>`: a task's run evidence as the node sent it (a Cloister extension). */
export const taskEvidenceRecords = recordType<TaskId, Buffer>({
  name: "task evidence",
  prefix: "evidence-task-",
  codec: rawCodec,
  idOfSuffix: uuidSuffix(TaskId),
});

/** Largest task evidence kept (it holds certificates and quotes, never task data). */
export const TASK_EVIDENCE_MAX_BYTES = 64 * 1024;

/** `log-task-<uuid>`: a task's own log, appended while it runs (JSON, `parseTaskLog`). */
export const taskLogRecords = recordType<TaskId, Buffer>({
  name: "task log",
  prefix: "log-task-",
  codec: rawCodec,
  idOfSuffix: uuidSuffix(TaskId),
});

/** `status-scheduler`: the scheduler's snapshot of execution nodes and the queue (`cloister status`). */
export const schedulerStatusRecords = recordType<"scheduler", Buffer>({
  name: "scheduler status",
  prefix: "status-",
  codec: rawCodec,
  idOfSuffix: (s) => (s === "scheduler" ? "scheduler" : undefined),
});
