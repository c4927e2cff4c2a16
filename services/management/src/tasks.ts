import {
  approveTask,
  argumentsToJson,
  assignInput,
  assignOutput,
  beginAssign,
  buildStagedTask,
  cancelTask,
  checkQuota,
  compareBytes,
  createTask,
  ensureCreator,
  FunctionId,
  finishAssign,
  functionRecords,
  InputId,
  OutputId,
  type Ownership,
  sortedSet,
  stageTask,
  TaskId,
  type TaskRecord,
  taskEvidenceRecords,
  taskRecords,
  taskResultToProto,
  usageRecords,
} from "@cloister/model";
import type { Empty, frontend } from "@cloister/proto";
import {
  type Caller,
  denied,
  invalidDataId,
  invalidFunctionId,
  invalidTaskId,
  lockKey,
  type ManagementContext,
  parseIdStrict,
  requireId,
  requireRole,
} from "./context.js";
import type { Data } from "./data.js";
import type { Functions } from "./functions.js";

/** Tasks: creation, data assignment, approval, invocation (the hand-off to the scheduler), cancel. */
export class Tasks {
  constructor(
    private readonly ctx: ManagementContext,
    private readonly functions: Functions,
    private readonly data: Data,
  ) {}

  private async load(external: string): Promise<TaskRecord> {
    const id = TaskId.tryParse(external);
    const t = id && (await this.ctx.records.find(taskRecords, id));
    if (!t) throw invalidTaskId();
    return t;
  }

  private save(t: TaskRecord): Promise<void> {
    return this.ctx.records.put(taskRecords, t.uuid, t);
  }

  /** Run `fn` on the task `external` names while holding that task's lock. */
  private withTask<T>(external: string, fn: (t: TaskRecord) => Promise<T>): Promise<T> {
    const id = TaskId.tryParse(external);
    if (!id) return Promise.reject(invalidTaskId());
    return this.ctx.locks.run(lockKey(taskRecords.key(id)), async () => fn(await this.load(external)));
  }

  async createTask(caller: Caller, req: frontend.CreateTaskRequest): Promise<frontend.CreateTaskResponse> {
    const userId = requireId(caller);
    const role = requireRole(caller);
    const fn = await this.functions.load(req.functionId ?? "");
    const owners = (o: frontend.OwnerList) => ({ dataName: o.dataName ?? "", uids: o.uids ?? [] });
    const task = createTask({
      creator: userId,
      role,
      fn,
      executor: req.executor ?? "",
      functionArguments: req.functionArguments ?? "",
      inputsOwnership: (req.inputsOwnership ?? []).map(owners),
      outputsOwnership: (req.outputsOwnership ?? []).map(owners),
    });
    await this.save(task);
    return { taskId: TaskId.external(task.uuid) };
  }

  async getTask(caller: Caller, req: frontend.GetTaskRequest): Promise<frontend.GetTaskResponse> {
    const userId = requireId(caller);
    const t = await this.load(req.taskId ?? "");
    // PlatformAdmin is not exempt.
    if (!t.participants.has(userId)) throw denied();
    return toGetTaskResponse(t);
  }

  /** Cloister extension: a task's run evidence (LibOS commit and result signature), participants only. */
  async getTaskEvidence(caller: Caller, req: { taskId?: string }): Promise<{ evidence: Buffer }> {
    const userId = requireId(caller);
    const t = await this.load(req.taskId ?? "");
    if (!t.participants.has(userId)) throw denied();
    return { evidence: (await this.ctx.records.get(taskEvidenceRecords, t.uuid)) ?? Buffer.alloc(0) };
  }

  async assignData(caller: Caller, req: frontend.AssignDataRequest): Promise<Empty> {
    const userId = requireId(caller);
    return this.withTask(req.taskId ?? "", async (task) => {
      const work = beginAssign(task, userId);
      for (const m of req.inputs ?? []) {
        const id = parseIdStrict(InputId, m.dataId ?? "", invalidDataId);
        assignInput(work, userId, m.dataName ?? "", await this.data.inputById(id));
      }
      for (const m of req.outputs ?? []) {
        const id = parseIdStrict(OutputId, m.dataId ?? "", invalidDataId);
        assignOutput(work, userId, m.dataName ?? "", await this.data.outputById(id));
      }
      // Saved only when every entry succeeded.
      await this.save(finishAssign(work));
      return {};
    });
  }

  async approveTask(caller: Caller, req: frontend.ApproveTaskRequest): Promise<Empty> {
    const userId = requireId(caller);
    return this.withTask(req.taskId ?? "", async (task) => {
      await this.save(approveTask(task, userId));
      return {};
    });
  }

  async invokeTask(caller: Caller, req: frontend.InvokeTaskRequest): Promise<Empty> {
    const userId = requireId(caller);
    const { records, locks, staging } = this.ctx;
    return this.withTask(req.taskId ?? "", async (task) => {
      ensureCreator(task, userId);
      const functionId = FunctionId.fromUuid(task.functionUuid);
      await locks.run(lockKey(usageRecords.key(functionId)), async () => {
        const [fn, usage] = await Promise.all([
          records.find(functionRecords, functionId),
          records.find(usageRecords, functionId),
        ]);
        if (!fn || !usage) throw invalidFunctionId();
        checkQuota(fn, usage.useNumbers);
        const staged = stageTask(task);
        // The Staged record, the use count and the queue element are written in one atomic step:
        // a crash can leave neither or all, never a Staged task that no queue announces.
        const writes = records
          .transaction()
          .put(taskRecords, staged.uuid, staged)
          .put(usageRecords, functionId, { ...usage, useNumbers: usage.useNumbers + 1 });
        await staging.stage(buildStagedTask(staged, fn), writes);
      });
      return {};
    });
  }

  async cancelTask(caller: Caller, req: frontend.CancelTaskRequest): Promise<Empty> {
    const userId = requireId(caller);
    const role = requireRole(caller);
    return this.withTask(req.taskId ?? "", async (task) => {
      const outcome = cancelTask(task, userId, role);
      if (outcome.action === "queue") await this.ctx.staging.requestCancel(outcome.task);
      else await this.save(outcome.task);
      return {};
    });
  }
}

const ownerLists = (own: Ownership): frontend.OwnerList[] =>
  [...own.entries()]
    .sort((a, b) => compareBytes(a[0], b[0]))
    .map(([dataName, s]) => ({ dataName, uids: sortedSet(s) }));

const dataMaps = (m: Map<string, { uuid: string }>, external: (uuid: string) => string): frontend.DataMap[] =>
  [...m.entries()]
    .sort((a, b) => compareBytes(a[0], b[0]))
    .map(([dataName, f]) => ({ dataName, dataId: external(f.uuid) }));

/** GetTask's view of a task; `result` is always set (empty message while not ready). */
export function toGetTaskResponse(t: TaskRecord): frontend.GetTaskResponse {
  return {
    taskId: TaskId.external(t.uuid),
    creator: t.creator,
    functionId: FunctionId.external(FunctionId.fromUuid(t.functionUuid)),
    functionOwner: t.functionOwner,
    functionArguments: argumentsToJson(t.functionArguments),
    inputsOwnership: ownerLists(t.inputsOwnership),
    outputsOwnership: ownerLists(t.outputsOwnership),
    participants: sortedSet(t.participants),
    approvedUsers: sortedSet(t.approvedUsers),
    assignedInputs: dataMaps(t.assignedInputs, (u) => InputId.external(InputId.fromUuid(u))),
    assignedOutputs: dataMaps(t.assignedOutputs, (u) => OutputId.external(OutputId.fromUuid(u))),
    status: t.status,
    result: taskResultToProto(t.result),
  };
}
