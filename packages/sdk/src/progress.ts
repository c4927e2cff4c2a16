import { CloisterError, ERRORS, errorText } from "@cloister/core";
import { common, type frontend } from "@cloister/proto";

type Task = frontend.GetTaskResponse;

/**
 * What a task that has not ended is waiting for, in plain words: the data assignments and
 * approvals still missing, the creator's invoke, an execution node, or the function itself.
 */
export function waitingFor(t: Task): string[] {
  switch (t.status) {
    case common.TaskStatus.Created:
    case common.TaskStatus.DataAssigned:
    case common.TaskStatus.Approved: {
      const out: string[] = [];
      const assigned = (l: frontend.DataMap[]) => new Set(l.map((d) => d.dataName));
      const inputs = assigned(t.assignedInputs);
      const outputs = assigned(t.assignedOutputs);
      for (const o of t.inputsOwnership)
        if (!inputs.has(o.dataName)) out.push(`input ${o.dataName} to be assigned by ${o.uids.join(" or ")}`);
      for (const o of t.outputsOwnership)
        if (!outputs.has(o.dataName))
          out.push(`output ${o.dataName} to be assigned by ${o.uids.join(" or ")}`);
      const approved = new Set(t.approvedUsers);
      if (t.participants.length > 1)
        for (const p of t.participants) if (!approved.has(p)) out.push(`approval by ${p}`);
      if (out.length === 0) out.push(`${t.creator} (its creator) to invoke it`);
      return out;
    }
    case common.TaskStatus.Staged:
      return ["an execution node to take it (is an execution node running with its executor?)"];
    case common.TaskStatus.Running:
      return ["the function to finish"];
    default:
      return [];
  }
}

/** A task that did not end in time; `waitingFor` says what it still needed. */
export class TaskWaitTimeoutError extends CloisterError {
  readonly taskId: string;
  readonly status: string;
  readonly waitingFor: string[];
  constructor(task: Task, taskId: string, seconds: number) {
    const waiting = waitingFor(task);
    const status = common.taskStatusToJSON(task.status);
    const params = { task: taskId, seconds, status, waiting: waiting.join(", ") };
    super(ERRORS.TASK_WAIT_TIMEOUT.code, errorText("TASK_WAIT_TIMEOUT", params), {
      kind: "TASK_WAIT_TIMEOUT",
    });
    this.name = "TaskWaitTimeoutError";
    this.taskId = taskId;
    this.status = status;
    this.waitingFor = waiting;
  }
}
