import { common } from "@cloister/proto";
import { type FunctionArguments, isCanonical, sortArguments } from "./arguments.js";
import {
  fileText,
  type InputFileRecord,
  inputFileFromJsonValue,
  inputFileToJsonValue,
  type OutputFileRecord,
  outputFileFromJsonValue,
  outputFileToJsonValue,
  readInputFile,
  readOutputFile,
} from "./file.js";
import { type Executor, executorFromLegacy, executorToLegacy } from "./function.js";
import { bytesToJson, compareBytes, isJsonObject, type JsonObject, type JsonValue, obj } from "./json.js";
import {
  argumentsText,
  bytesText,
  innerText,
  quote,
  recordHead,
  sortedMapText,
  stringsText,
  uidsText,
} from "./json-text.js";
import { asObject, bytes, RecordFormatError, str, strings } from "./read.js";
import { K, keyBytes, type RecordReader, readDirect } from "./record-reader.js";
import { decodeJsonRecord } from "./records/codec.js";
import { TaskId } from "./records/ids.js";
import { sortedSet } from "./sets.js";

export const TaskStatus = common.TaskStatus;
export type TaskStatus = common.TaskStatus;

const STATUS_NAMES: Array<[TaskStatus, string]> = [
  [TaskStatus.Created, "Created"],
  [TaskStatus.DataAssigned, "DataAssigned"],
  [TaskStatus.Approved, "Approved"],
  [TaskStatus.Staged, "Staged"],
  [TaskStatus.Running, "Running"],
  [TaskStatus.Finished, "Finished"],
  [TaskStatus.Canceled, "Canceled"],
  [TaskStatus.Failed, "Failed"],
];

export const taskStatusName = (s: TaskStatus): string =>
  STATUS_NAMES.find(([v]) => v === s)?.[1] ?? "Unknown";

export function taskStatusFromName(name: string): TaskStatus {
  const hit = STATUS_NAMES.find(([, n]) => n === name);
  if (!hit) throw new RecordFormatError(`status: unknown value ${name}`);
  return hit[0];
}

/** Finished, Failed or Canceled. */
export const isEnded = (s: TaskStatus): boolean =>
  s === TaskStatus.Finished || s === TaskStatus.Failed || s === TaskStatus.Canceled;

/** A task's result: not ready yet, the function's outputs, or a failure reason. */
export type TaskResult =
  | { kind: "NotReady" }
  | {
      kind: "Ok";
      returnValue: Buffer;
      tagsMap: Map<string, Buffer>;
      log: string[];
      /**
       * The function failed, but the legacy executor reported that as this successful result
       * (docs/decisions.md): Teaclave clients see the Ok result, Cloister's the failure.
       */
      failure?: string;
    }
  | { kind: "Err"; reason: string };

export const NOT_READY: TaskResult = { kind: "NotReady" };

/** Data name → set of owner ids. */
export type Ownership = Map<string, Set<string>>;

/** A task (`task-<uuid>`), as stored by management and updated by the scheduler. */
export interface TaskRecord {
  uuid: TaskId;
  creator: string;
  functionUuid: string;
  functionArguments: FunctionArguments;
  executor: Executor;
  inputsOwnership: Ownership;
  outputsOwnership: Ownership;
  functionOwner: string;
  participants: Set<string>;
  approvedUsers: Set<string>;
  /** Snapshots of the file records at assignment time. */
  assignedInputs: Map<string, InputFileRecord>;
  assignedOutputs: Map<string, OutputFileRecord>;
  result: TaskResult;
  status: TaskStatus;
}

const sortedEntries = <V>(m: Map<string, V>): Array<[string, V]> =>
  [...m.entries()].sort((a, b) => compareBytes(a[0], b[0]));

const inner = <V>(m: Map<string, V>, f: (v: V) => JsonValue): JsonValue =>
  obj([["inner", obj(sortedEntries(m).map(([k, v]) => [k, f(v)]))]]);

const uids = (s: Set<string>): JsonValue => obj([["uids", sortedSet(s)]]);

export function taskResultToJsonValue(r: TaskResult): JsonValue {
  switch (r.kind) {
    case "NotReady":
      return "NotReady";
    case "Ok":
      return obj([
        [
          "Ok",
          obj([
            ["return_value", bytesToJson(r.returnValue)],
            ["tags_map", inner(r.tagsMap, (t) => obj([["tag", bytesToJson(t)]]))],
            ["log", [...r.log]],
            ...(r.failure !== undefined
              ? ([["cloister_failure", r.failure]] as Array<[string, JsonValue]>)
              : []),
          ]),
        ],
      ]);
    case "Err":
      return obj([["Err", obj([["reason", r.reason]])]]);
  }
}

function innerMap(v: JsonValue | undefined, what: string): JsonObject {
  return asObject(asObject(v, what).get("inner"), `${what}.inner`);
}

export function taskResultFromJsonValue(v: JsonValue | undefined): TaskResult {
  if (v === "NotReady") return NOT_READY;
  if (isJsonObject(v) && v.size === 1) {
    const ok = v.get("Ok");
    if (isJsonObject(ok)) {
      const tags = new Map<string, Buffer>();
      for (const [k, t] of innerMap(ok.get("tags_map"), "tags_map"))
        tags.set(k, bytes(asObject(t, "tag").get("tag"), "tag"));
      return {
        kind: "Ok",
        returnValue: bytes(ok.get("return_value"), "return_value"),
        tagsMap: tags,
        log: strings(ok.get("log"), "log"),
        ...(ok.has("cloister_failure") ? { failure: str(ok, "cloister_failure") } : {}),
      };
    }
    const err = v.get("Err");
    if (isJsonObject(err)) return { kind: "Err", reason: str(err, "reason") };
  }
  throw new RecordFormatError("result: not a TaskResult");
}

export function taskToJsonValue(t: TaskRecord): JsonValue {
  return obj([
    ["task_id", t.uuid],
    ["creator", t.creator],
    [
      "function_id",
      obj([
        ["prefix", "function"],
        ["uuid", t.functionUuid],
      ]),
    ],
    ["function_arguments", obj([["inner", sortArguments(t.functionArguments)]])],
    ["executor", executorToLegacy(t.executor)],
    ["inputs_ownership", inner(t.inputsOwnership, uids)],
    ["outputs_ownership", inner(t.outputsOwnership, uids)],
    ["function_owner", t.functionOwner],
    ["participants", uids(t.participants)],
    ["approved_users", uids(t.approvedUsers)],
    ["assigned_inputs", inner(t.assignedInputs, inputFileToJsonValue)],
    ["assigned_outputs", inner(t.assignedOutputs, outputFileToJsonValue)],
    ["result", taskResultToJsonValue(t.result)],
    ["status", taskStatusName(t.status)],
  ]);
}

function ownershipFromJson(v: JsonValue | undefined, what: string): Ownership {
  const m: Ownership = new Map();
  for (const [k, x] of innerMap(v, what)) m.set(k, new Set(strings(asObject(x, what).get("uids"), what)));
  return m;
}

const uidSet = (v: JsonValue | undefined, what: string): Set<string> =>
  new Set(strings(asObject(v, what).get("uids"), what));

/** A stored task id: a bare UUID; anything else means the record is damaged. */
export function taskIdField(o: JsonObject, key: string): TaskId {
  const v = str(o, key);
  try {
    return TaskId.fromUuid(v);
  } catch {
    throw new RecordFormatError(`${key}: expected a UUID`);
  }
}

export function taskFromJsonValue(v: JsonValue | undefined): TaskRecord {
  const o = asObject(v, "task");
  const fid = asObject(o.get("function_id"), "function_id");
  if (str(fid, "prefix") !== "function") throw new RecordFormatError("function_id: wrong prefix");
  const assignedInputs = new Map<string, InputFileRecord>();
  for (const [k, x] of innerMap(o.get("assigned_inputs"), "assigned_inputs"))
    assignedInputs.set(k, inputFileFromJsonValue(x));
  const assignedOutputs = new Map<string, OutputFileRecord>();
  for (const [k, x] of innerMap(o.get("assigned_outputs"), "assigned_outputs"))
    assignedOutputs.set(k, outputFileFromJsonValue(x));
  return {
    uuid: taskIdField(o, "task_id"),
    creator: str(o, "creator"),
    functionUuid: str(fid, "uuid"),
    functionArguments: sortArguments(innerMap(o.get("function_arguments"), "function_arguments")),
    executor: executorFromLegacy(str(o, "executor")),
    inputsOwnership: ownershipFromJson(o.get("inputs_ownership"), "inputs_ownership"),
    outputsOwnership: ownershipFromJson(o.get("outputs_ownership"), "outputs_ownership"),
    functionOwner: str(o, "function_owner"),
    participants: uidSet(o.get("participants"), "participants"),
    approvedUsers: uidSet(o.get("approved_users"), "approved_users"),
    assignedInputs,
    assignedOutputs,
    result: taskResultFromJsonValue(o.get("result")),
    status: taskStatusFromName(str(o, "status")),
  };
}

/** The text of `taskToJsonValue(t)` in a codec version (base64: version 2), written directly. */
export function taskText(t: TaskRecord, base64: boolean): string {
  const file = (f: InputFileRecord | OutputFileRecord) => fileText(f, base64);
  return (
    `${recordHead(base64)}"task_id":${quote(t.uuid)},"creator":${quote(t.creator)},` +
    `"function_id":{"prefix":"function","uuid":${quote(t.functionUuid)}},` +
    `"function_arguments":${argumentsText(t.functionArguments)},"executor":${quote(executorToLegacy(t.executor))},` +
    `"inputs_ownership":${innerText(t.inputsOwnership, uidsText)},` +
    `"outputs_ownership":${innerText(t.outputsOwnership, uidsText)},` +
    `"function_owner":${quote(t.functionOwner)},"participants":${uidsText(t.participants)},` +
    `"approved_users":${uidsText(t.approvedUsers)},"assigned_inputs":${innerText(t.assignedInputs, file)},` +
    `"assigned_outputs":${innerText(t.assignedOutputs, file)},"result":${taskResultText(t.result, base64)},` +
    `"status":${quote(taskStatusName(t.status))}}`
  );
}

/** The text of `taskResultToJsonValue(r)`, written directly. */
export function taskResultText(r: TaskResult, base64: boolean): string {
  switch (r.kind) {
    case "NotReady":
      return '"NotReady"';
    case "Ok":
      return (
        `{"Ok":{"return_value":${bytesText(r.returnValue, base64)},` +
        `"tags_map":{"inner":${sortedMapText(r.tagsMap, (t) => `{"tag":${bytesText(t, base64)}}`)}},` +
        `"log":${stringsText(r.log)}${r.failure !== undefined ? `,"cloister_failure":${quote(r.failure)}` : ""}}}`
      );
    case "Err":
      return `{"Err":{"reason":${quote(r.reason)}}}`;
  }
}

const T = {
  creator: keyBytes("creator"),
  functionId: keyBytes("function_id"),
  prefix: keyBytes("prefix"),
  uuid: keyBytes("uuid"),
  functionArguments: keyBytes("function_arguments"),
  inner: keyBytes("inner"),
  executor: keyBytes("executor"),
  inputsOwnership: keyBytes("inputs_ownership"),
  outputsOwnership: keyBytes("outputs_ownership"),
  functionOwner: keyBytes("function_owner"),
  participants: keyBytes("participants"),
  approvedUsers: keyBytes("approved_users"),
  assignedInputs: keyBytes("assigned_inputs"),
  assignedOutputs: keyBytes("assigned_outputs"),
  result: keyBytes("result"),
  status: keyBytes("status"),
  taskId: keyBytes("task_id"),
  ok: keyBytes("Ok"),
  err: keyBytes("Err"),
  returnValue: keyBytes("return_value"),
  tagsMap: keyBytes("tags_map"),
  log: keyBytes("log"),
  failure: keyBytes("cloister_failure"),
  reason: keyBytes("reason"),
};

/** A stored task id field: a bare UUID (else off the fast path; the tree decoder then refuses it). */
export const readTaskId = (r: RecordReader): TaskId => TaskId.fromUuid(r.str());

/** `function_arguments` of a record at the top level of a stored object: `{"inner":{…}}`. */
export function readArguments(r: RecordReader): FunctionArguments {
  r.open();
  r.key(T.inner);
  // The arguments object sits at depth 3 of the record (record, wrapper, arguments). Stored
  // arguments are canonical already; the fresh tree is then used as it is (sorting would copy it
  // into the same tree).
  const parsed = r.anyObject(2);
  const args = isCanonical(parsed) ? parsed : sortArguments(parsed);
  r.close();
  return args;
}

function readOwnership(r: RecordReader): Ownership {
  const m: Ownership = new Map();
  r.inner((k) => m.set(k, new Set(r.uids())));
  return m;
}

/** A result's output tag: `{"tag":…}` of any length (the tree decoder checks none here either). */
function readResultTag(r: RecordReader): Buffer {
  r.open();
  r.key(K.tag);
  const t = r.bytes();
  r.close();
  return t;
}

function readResult(r: RecordReader): TaskResult {
  if (r.peek() === 0x22) return r.str() === "NotReady" ? NOT_READY : r.off();
  r.open();
  let out: TaskResult;
  if (r.nextKeyIs(T.ok)) {
    r.open();
    r.key(T.returnValue);
    const returnValue = r.bytes();
    r.next(T.tagsMap);
    const tagsMap = new Map<string, Buffer>();
    r.inner((k) => tagsMap.set(k, readResultTag(r)));
    r.next(T.log);
    const log = r.strings();
    const failure = r.nextIs(T.failure) ? r.str() : undefined;
    r.close();
    out =
      failure === undefined
        ? { kind: "Ok", returnValue, tagsMap, log }
        : { kind: "Ok", returnValue, tagsMap, log, failure };
  } else {
    r.key(T.err);
    r.open();
    r.key(T.reason);
    out = { kind: "Err", reason: r.str() };
    r.close();
  }
  r.close();
  return out;
}

/** A version 2 task record's fields, in the writer's exact order (see record-reader.ts). */
export function readTaskFields(r: RecordReader): TaskRecord {
  r.key(T.taskId);
  const uuid = readTaskId(r);
  r.next(T.creator);
  const creator = r.str();
  r.next(T.functionId);
  r.open();
  r.key(T.prefix);
  if (r.str() !== "function") r.off();
  r.next(T.uuid);
  const functionUuid = r.str();
  r.close();
  r.next(T.functionArguments);
  const functionArguments = readArguments(r);
  r.next(T.executor);
  const executor = executorFromLegacy(r.str());
  r.next(T.inputsOwnership);
  const inputsOwnership = readOwnership(r);
  r.next(T.outputsOwnership);
  const outputsOwnership = readOwnership(r);
  r.next(T.functionOwner);
  const functionOwner = r.str();
  r.next(T.participants);
  const participants = new Set(r.uids());
  r.next(T.approvedUsers);
  const approvedUsers = new Set(r.uids());
  r.next(T.assignedInputs);
  const assignedInputs = new Map<string, InputFileRecord>();
  r.inner((k) => assignedInputs.set(k, readInputFile(r)));
  r.next(T.assignedOutputs);
  const assignedOutputs = new Map<string, OutputFileRecord>();
  r.inner((k) => assignedOutputs.set(k, readOutputFile(r)));
  r.next(T.result);
  const result = readResult(r);
  r.next(T.status);
  const status = taskStatusFromName(r.str());
  return {
    uuid,
    creator,
    functionUuid,
    functionArguments,
    executor,
    inputsOwnership,
    outputsOwnership,
    functionOwner,
    participants,
    approvedUsers,
    assignedInputs,
    assignedOutputs,
    result,
    status,
  };
}

export const serializeTask = (t: TaskRecord): string => taskText(t, false);
/** Either codec version (a queued cancel request, a stored record). */
export const parseTask = (text: string): TaskRecord =>
  readDirect(text, readTaskFields) ?? decodeJsonRecord(taskFromJsonValue, text, "task");

/** A deep copy, so state transitions can be pure. */
export function cloneTask(t: TaskRecord): TaskRecord {
  const cloneOwn = (m: Ownership): Ownership => new Map([...m].map(([k, s]) => [k, new Set(s)]));
  const cloneIn = (f: InputFileRecord): InputFileRecord => ({ ...f, owners: new Set(f.owners) });
  const cloneOut = (f: OutputFileRecord): OutputFileRecord => ({ ...f, owners: new Set(f.owners) });
  return {
    ...t,
    functionArguments: new Map(t.functionArguments),
    inputsOwnership: cloneOwn(t.inputsOwnership),
    outputsOwnership: cloneOwn(t.outputsOwnership),
    participants: new Set(t.participants),
    approvedUsers: new Set(t.approvedUsers),
    assignedInputs: new Map([...t.assignedInputs].map(([k, f]) => [k, cloneIn(f)])),
    assignedOutputs: new Map([...t.assignedOutputs].map(([k, f]) => [k, cloneOut(f)])),
  };
}

/** A Buffer over the same bytes (generated messages carry Buffers; hand-built ones may not). */
const viewOf = (b: Uint8Array): Buffer =>
  Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);

/*
 * The two wire conversions share the result's bytes and log instead of copying them: a result is
 * never modified once built (state transitions replace it), and each wire message lives for one
 * call. So a hop costs one reshaping of the result, not a copy of its return value and log.
 */

/** Wire form of a result: an empty message while not ready (GetTaskResponse.result is always set). */
export function taskResultToProto(r: TaskResult): common.TaskResult {
  switch (r.kind) {
    case "NotReady":
      return {};
    case "Ok":
      return {
        Ok: {
          returnValue: r.returnValue,
          tagsMap: Object.fromEntries(r.tagsMap),
          log: r.log,
          ...(r.failure !== undefined ? { cloisterFailure: r.failure } : {}),
        },
      };
    case "Err":
      return { Err: { reason: r.reason } };
  }
}

/** From the wire (scheduler UpdateTaskResult); an empty message means not ready. */
export function taskResultFromProto(r: common.TaskResult): TaskResult {
  if (r.Ok)
    return {
      kind: "Ok",
      returnValue: viewOf(r.Ok.returnValue ?? Buffer.alloc(0)),
      tagsMap: new Map(Object.entries(r.Ok.tagsMap ?? {}).map(([k, v]) => [k, viewOf(v)])),
      log: r.Ok.log ?? [],
      ...(r.Ok.cloisterFailure ? { failure: r.Ok.cloisterFailure } : {}),
    };
  if (r.Err) return { kind: "Err", reason: r.Err.reason ?? "" };
  return NOT_READY;
}
