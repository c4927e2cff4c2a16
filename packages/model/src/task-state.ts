/**
 * The task state machine of the legacy contract as pure functions: each takes a task
 * and returns a new one (the input is never modified) or throws a CloisterError carrying the
 * exact legacy code and text. Storage and id lookups stay with the callers.
 */

import { cloisterError, parseRole, type Role } from "@cloister/core";
import { mergeFunctionArguments, parseFunctionArguments } from "./arguments.js";
import { CMAC_LENGTH, type InputFileRecord, type OutputFileRecord } from "./file.js";
import { type FunctionIoDecl, type FunctionRecord, parseExecutor } from "./function.js";
import { TaskId } from "./records/ids.js";
import { setsEqual } from "./sets.js";
import {
  cloneTask,
  isEnded,
  NOT_READY,
  type Ownership,
  type TaskRecord,
  type TaskResult,
  TaskStatus,
} from "./task.js";

export const CANCELED_EARLY_REASON = "Task canceled";
export const CANCELED_BY_USER_REASON = "Task Canceled by the user";
export const EXECUTOR_TIMEOUT_REASON = "Runtime Error: Executor Timeout";

const denied = () => cloisterError("PERMISSION_DENIED");
const invalidTask = () => cloisterError("INVALID_TASK");

export interface OwnerListInput {
  dataName: string;
  uids: string[];
}

export interface CreateTaskInput {
  /** Task UUID (random when omitted). */
  uuid?: TaskId;
  creator: string;
  /** The creator's full token role string (`DataOwner-bank`) or a parsed Role. */
  role: string | Role;
  fn: FunctionRecord;
  executor: string;
  functionArguments: string;
  inputsOwnership: OwnerListInput[];
  outputsOwnership: OwnerListInput[];
}

/** May this role create a task with this function? */
export function mayCreateTask(role: Role, fn: FunctionRecord): boolean {
  switch (role.name) {
    case "PlatformAdmin":
      return true;
    case "DataOwner":
    case "DataOwnerManager":
      // The allowlist is compared with the data-owner attribute here (legacy inconsistency, kept).
      return fn.public || fn.userAllowlist.includes(role.attribute);
    default:
      return false;
  }
}

function ownership(lists: OwnerListInput[]): Ownership {
  const m: Ownership = new Map();
  // Duplicate data names: the last entry wins.
  for (const l of lists) m.set(l.dataName, new Set(l.uids));
  return m;
}

/** {names with ownership} ∪ {optional declared names} must equal {declared names}. */
function checkDataNames(declared: FunctionIoDecl[], own: Ownership): void {
  const all = new Set(declared.map((d) => d.name));
  const covered = new Set([...own.keys(), ...declared.filter((d) => d.optional).map((d) => d.name)]);
  if (!setsEqual(all, covered)) throw invalidTask();
}

/** CreateTask checks 2–8 (the function lookup, check 1, is the caller's). */
export function createTask(input: CreateTaskInput): TaskRecord {
  const role = typeof input.role === "string" ? parseRole(input.role) : input.role;
  const fn = input.fn;
  if (!mayCreateTask(role, fn)) throw denied();
  const executor = parseExecutor(input.executor);
  const requested = parseFunctionArguments(input.functionArguments);
  const functionArguments = mergeFunctionArguments(fn.arguments, requested);
  const inputsOwnership = ownership(input.inputsOwnership);
  const outputsOwnership = ownership(input.outputsOwnership);
  checkDataNames(fn.inputs, inputsOwnership);
  checkDataNames(fn.outputs, outputsOwnership);
  const participants = new Set<string>();
  for (const own of [inputsOwnership, outputsOwnership])
    for (const s of own.values()) for (const u of s) participants.add(u);
  participants.add(input.creator);
  if (!fn.public) participants.add(fn.owner);
  return {
    uuid: input.uuid ?? TaskId.create(),
    creator: input.creator,
    functionUuid: fn.uuid,
    functionArguments,
    executor,
    inputsOwnership,
    outputsOwnership,
    functionOwner: fn.owner,
    participants,
    approvedUsers: new Set(),
    assignedInputs: new Map(),
    assignedOutputs: new Map(),
    result: NOT_READY,
    status: TaskStatus.Created,
  };
}

const sameKeys = (a: Map<string, unknown>, b: Map<string, unknown>) =>
  a.size === b.size && [...a.keys()].every((k) => b.has(k));

/** Every name with an ownership entry has a file assigned (optional unowned inputs are not needed). */
export const allDataAssigned = (t: TaskRecord): boolean =>
  sameKeys(t.assignedInputs, t.inputsOwnership) && sameKeys(t.assignedOutputs, t.outputsOwnership);

/** A single participant needs no approval; otherwise every participant must have approved. */
export const everyoneApproved = (t: TaskRecord): boolean =>
  t.participants.size === 1 || setsEqual(t.approvedUsers, t.participants);

export const isParticipant = (t: TaskRecord, userId: string): boolean => t.participants.has(userId);

/** AssignData steps 2–3: returns a working copy to which files are then assigned one by one. */
export function beginAssign(task: TaskRecord, callerId: string): TaskRecord {
  if (!task.participants.has(callerId)) throw denied();
  if (task.status !== TaskStatus.Created) throw cloisterError("ASSIGN_FAILED");
  return cloneTask(task);
}

function checkAssignable(
  own: Ownership,
  assigned: Map<string, unknown>,
  callerId: string,
  name: string,
  owners: Set<string>,
): void {
  const declared = own.get(name);
  if (!owners.has(callerId) || !declared || !setsEqual(owners, declared) || assigned.has(name))
    throw denied();
}

/** AssignData step 4 for one input; mutates the working copy from `beginAssign`. */
export function assignInput(work: TaskRecord, callerId: string, name: string, file: InputFileRecord): void {
  checkAssignable(work.inputsOwnership, work.assignedInputs, callerId, name, file.owners);
  work.assignedInputs.set(name, { ...file, owners: new Set(file.owners) });
}

/**
 * AssignData step 4 for one output; mutates the working copy. An output that already carries a
 * cmac is rejected (its later result upload could never succeed).
 */
export function assignOutput(work: TaskRecord, callerId: string, name: string, file: OutputFileRecord): void {
  checkAssignable(work.outputsOwnership, work.assignedOutputs, callerId, name, file.owners);
  if (file.cmac !== null) throw denied();
  work.assignedOutputs.set(name, { ...file, owners: new Set(file.owners) });
}

/** AssignData step 5: the status after every entry succeeded. */
export function finishAssign(work: TaskRecord): TaskRecord {
  const t = cloneTask(work);
  t.status = allDataAssigned(t) ? TaskStatus.DataAssigned : TaskStatus.Created;
  return t;
}

/** All of AssignData's task-side checks at once, for callers that resolved every file first. */
export function assignData(
  task: TaskRecord,
  callerId: string,
  inputs: Array<[string, InputFileRecord]>,
  outputs: Array<[string, OutputFileRecord]>,
): TaskRecord {
  const work = beginAssign(task, callerId);
  for (const [name, f] of inputs) assignInput(work, callerId, name, f);
  for (const [name, f] of outputs) assignOutput(work, callerId, name, f);
  return finishAssign(work);
}

/** ApproveTask steps 2–4. */
export function approveTask(task: TaskRecord, callerId: string): TaskRecord {
  const ready =
    task.status === TaskStatus.DataAssigned || (task.status === TaskStatus.Created && allDataAssigned(task));
  if (!ready) throw cloisterError("APPROVE_FAILED");
  if (!task.participants.has(callerId)) throw denied();
  const t = cloneTask(task);
  t.approvedUsers.add(callerId);
  t.status = everyoneApproved(t) ? TaskStatus.Approved : TaskStatus.DataAssigned;
  return t;
}

/** InvokeTask step 2. */
export function ensureCreator(task: TaskRecord, callerId: string): void {
  if (task.creator !== callerId) throw denied();
}

/** InvokeTask step 4: a set quota must exceed the current usage. */
export function checkQuota(fn: FunctionRecord, currentUsage: number): void {
  if (fn.usageQuota !== null && fn.usageQuota <= currentUsage) throw cloisterError("QUOTA_USED_UP");
}

/** Can InvokeTask stage this task now? */
export function canStage(t: TaskRecord): boolean {
  const fromOk =
    t.status === TaskStatus.Created ||
    t.status === TaskStatus.DataAssigned ||
    t.status === TaskStatus.Approved;
  return fromOk && allDataAssigned(t) && everyoneApproved(t);
}

/** InvokeTask step 5 → status Staged. */
export function stageTask(task: TaskRecord): TaskRecord {
  if (!canStage(task)) throw cloisterError("INVOKE_FAILED");
  return withStatus(task, TaskStatus.Staged);
}

export type CancelOutcome =
  /** Staged/Running: the task (unchanged) must be pushed onto `cancel_queue`. */
  | { action: "queue"; task: TaskRecord }
  /** Not yet staged: canceled right away; store the new record. */
  | { action: "canceled"; task: TaskRecord };

/** CancelTask steps 2–5. `role` is the caller's full role string or parsed role. */
export function cancelTask(task: TaskRecord, callerId: string, role: string | Role): CancelOutcome {
  const r = typeof role === "string" ? parseRole(role) : role;
  if (task.creator !== callerId && r.name !== "PlatformAdmin") throw denied();
  if (task.status === TaskStatus.Staged || task.status === TaskStatus.Running)
    return { action: "queue", task };
  if (isEnded(task.status)) throw cloisterError("CANCEL_FAILED");
  const t = cloneTask(task);
  t.status = TaskStatus.Canceled;
  t.result = { kind: "Err", reason: CANCELED_EARLY_REASON };
  return { action: "canceled", task: t };
}

/** Scheduler UpdateTaskStatus: Staged → Running. */
export function markRunning(task: TaskRecord): TaskRecord {
  if (task.status !== TaskStatus.Staged) throw cloisterError("CANNOT_RESTORE_RUN");
  return withStatus(task, TaskStatus.Running);
}

/**
 * A copy with another status that shares the rest with `task`: no record is modified in place
 * (every transition that changes a collection copies the record deeply first), so sharing is
 * safe, and the hot transitions (stage, run) cost one object instead of a deep copy.
 */
const withStatus = (task: TaskRecord, status: TaskStatus): TaskRecord => ({ ...task, status });

export interface FinishOutcome {
  task: TaskRecord;
  /** Output records whose cmac was just set; the caller stores each under `output-<uuid>`. */
  updatedOutputs: OutputFileRecord[];
}

/**
 * Scheduler UpdateTaskResult: Running → Finished with an Ok or Err result. For Ok every tag
 * must be 16 bytes and name an assigned output that has no cmac yet.
 */
export function finishWithResult(task: TaskRecord, result: TaskResult): FinishOutcome {
  if (task.status !== TaskStatus.Running) throw cloisterError("CANNOT_RESTORE_FINISH");
  if (result.kind === "NotReady") throw cloisterError("TASK_RESULT_MISSING");
  const t = cloneTask(task);
  const updatedOutputs: OutputFileRecord[] = [];
  if (result.kind === "Ok") {
    for (const tag of result.tagsMap.values())
      if (tag.length !== CMAC_LENGTH) throw cloisterError("RESULT_TAG_LENGTH");
    for (const [name, tag] of result.tagsMap) {
      const out = t.assignedOutputs.get(name);
      if (!out) throw cloisterError("RESULT_OUTPUT_UNKNOWN", { name: JSON.stringify(name) });
      if (out.cmac !== null) throw cloisterError("RESULT_CMAC_SET");
      out.cmac = Buffer.from(tag);
      updatedOutputs.push({ ...out, owners: new Set(out.owners) });
    }
  }
  t.status = TaskStatus.Finished;
  t.result =
    result.kind === "Ok"
      ? {
          kind: "Ok",
          returnValue: Buffer.from(result.returnValue),
          tagsMap: new Map(result.tagsMap),
          log: [...result.log],
          ...(result.failure !== undefined ? { failure: result.failure } : {}),
        }
      : { kind: "Err", reason: result.reason };
  return { task: t, updatedOutputs };
}

function endWith(task: TaskRecord, status: TaskStatus, reason: string): TaskRecord {
  // An ended task stays as it is (ignore late cancels instead of failing).
  if (isEnded(task.status)) return task;
  const t = cloneTask(task);
  t.status = status;
  t.result = { kind: "Err", reason };
  return t;
}

/** Scheduler-side cancellation (PullTask or Heartbeat). Returns the same object if already ended. */
export const cancelByUser = (task: TaskRecord): TaskRecord =>
  endWith(task, TaskStatus.Canceled, CANCELED_BY_USER_REASON);

/** Executor heartbeat timeout. Returns the same object if already ended. */
export const failExecutorTimeout = (task: TaskRecord): TaskRecord =>
  endWith(task, TaskStatus.Failed, EXECUTOR_TIMEOUT_REASON);
