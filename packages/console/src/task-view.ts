// What a participant needs to see of a task: who still has to assign which data, who still has
// to approve, and which of those steps are the signed-in user's own.
import { common } from "@cloister/proto";
import type { TaskView } from "@cloister/sdk";

export interface Slot {
  name: string;
  owners: string[];
  dataId: string | undefined;
}

export interface TaskSummary {
  taskId: string;
  status: string;
  ended: boolean;
  creator: string;
  functionId: string;
  functionOwner: string;
  arguments: string;
  participants: string[];
  approvedUsers: string[];
  inputs: Slot[];
  outputs: Slot[];
  missing: {
    assignments: Array<{ kind: "input" | "output"; name: string; owners: string[] }>;
    approvals: string[];
  };
  mine: {
    assign: Array<{ kind: "input" | "output"; name: string }>;
    approve: boolean;
    invoke: boolean;
    cancel: boolean;
  };
  result:
    | { ok: true; returnValue: string; log: string[]; tags: Record<string, string> }
    | { ok: false; reason: string }
    | null;
}

const ENDED = new Set([common.TaskStatus.Finished, common.TaskStatus.Canceled, common.TaskStatus.Failed]);

export function summarizeTask(t: TaskView, me: string): TaskSummary {
  const slots = (ownership: TaskView["inputsOwnership"], assigned: TaskView["assignedInputs"]): Slot[] =>
    ownership.map((o) => ({
      name: o.dataName,
      owners: [...o.uids],
      dataId: assigned.find((a) => a.dataName === o.dataName)?.dataId,
    }));
  const inputs = slots(t.inputsOwnership, t.assignedInputs);
  const outputs = slots(t.outputsOwnership, t.assignedOutputs);
  const unassigned = [
    ...inputs
      .filter((s) => !s.dataId)
      .map((s) => ({ kind: "input" as const, name: s.name, owners: s.owners })),
    ...outputs
      .filter((s) => !s.dataId)
      .map((s) => ({ kind: "output" as const, name: s.name, owners: s.owners })),
  ];
  const approvals = t.participants.filter((p) => !t.approvedUsers.includes(p));
  const ended = ENDED.has(t.status);
  const status = common.taskStatusToJSON(t.status);
  const r = t.result;
  return {
    taskId: t.taskId,
    status,
    ended,
    creator: t.creator,
    functionId: t.functionId,
    functionOwner: t.functionOwner,
    arguments: t.functionArguments,
    participants: [...t.participants],
    approvedUsers: [...t.approvedUsers],
    inputs,
    outputs,
    missing: { assignments: unassigned, approvals },
    mine: {
      assign: ended
        ? []
        : unassigned.filter((u) => u.owners.includes(me)).map(({ kind, name }) => ({ kind, name })),
      approve: t.status === common.TaskStatus.DataAssigned && approvals.includes(me),
      invoke: t.status === common.TaskStatus.Approved && t.creator === me,
      cancel: !ended && t.participants.includes(me),
    },
    result: r?.Ok
      ? {
          ok: true,
          returnValue: Buffer.from(r.Ok.returnValue).toString("utf8"),
          log: [...(r.Ok.log ?? [])],
          tags: Object.fromEntries(
            Object.entries(r.Ok.tagsMap ?? {}).map(([k, v]) => [k, Buffer.from(v).toString("hex")]),
          ),
        }
      : r?.Err
        ? { ok: false, reason: r.Err.reason }
        : null,
  };
}
