import { type SchedulerStatusSnapshot, schedulerStatusCodec } from "../scheduler-status.js";
import { readTaskFields, type TaskRecord, taskFromJsonValue, taskText, taskToJsonValue } from "../task.js";
import { type TaskLogRecord, taskLogCodec } from "../task-log.js";
import { uuidSuffix } from "./bare.js";
import { directCodec } from "./codec.js";
import { TaskId } from "./ids.js";
import { rawCodec, recordType } from "./type.js";

/** `task-<uuid>`: a task, written by management and updated by the scheduler. */
export const taskRecords = recordType<TaskId, TaskRecord>({
  name: "task",
  prefix: "task-",
  codec: directCodec("task", {
    toJson: taskToJsonValue,
    fromJson: taskFromJsonValue,
    text: taskText,
    read: readTaskFields,
  }),
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

/** `log-task-<uuid>`: a task's own log, appended while it runs. */
export const taskLogRecords = recordType<TaskId, TaskLogRecord>({
  name: "task log",
  prefix: "log-task-",
  codec: taskLogCodec,
  idOfSuffix: uuidSuffix(TaskId),
});

/** `status-scheduler`: the scheduler's snapshot of execution nodes and the queue (`cloister status`). */
export const schedulerStatusRecords = recordType<"scheduler", SchedulerStatusSnapshot>({
  name: "scheduler status",
  prefix: "status-",
  codec: schedulerStatusCodec,
  idOfSuffix: (s) => (s === "scheduler" ? "scheduler" : undefined),
});
