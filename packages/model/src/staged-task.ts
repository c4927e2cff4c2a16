import { type FunctionArguments, sortArguments } from "./arguments.js";
import { CMAC_LENGTH } from "./file.js";
import { type FileCrypto, fileCryptoFromJson, fileCryptoToJson } from "./file-crypto.js";
import {
  type Executor,
  type ExecutorType,
  executorFromLegacy,
  executorToLegacy,
  executorTypeFromLegacy,
  executorTypeToLegacy,
  type FunctionRecord,
} from "./function.js";
import { bytesToJson, compareBytes, type JsonValue, obj, stringifyJson } from "./json.js";
import { asObject, bytes, RecordFormatError, str, strings } from "./read.js";
import { decodeJsonRecord } from "./records/codec.js";
import type { TaskId } from "./records/ids.js";
import { sortedSet } from "./sets.js";
import { type TaskRecord, taskIdField } from "./task.js";

export interface StagedInput {
  url: string;
  cmac: Buffer;
  crypto: FileCrypto;
  /** The file's owners (sorted): a node confines a `file:` URL to their exchange directories. */
  owners: string[];
}

export interface StagedOutput {
  url: string;
  crypto: FileCrypto;
  owners: string[];
}

/** Everything an executor needs to run one task. */
export interface StagedTask {
  taskUuid: TaskId;
  functionUuid: string;
  userId: string;
  executor: Executor;
  executorType: ExecutorType;
  functionName: string;
  functionArguments: FunctionArguments;
  functionPayload: Buffer;
  inputData: Map<string, StagedInput>;
  outputData: Map<string, StagedOutput>;
}

/** InvokeTask: the current function definition plus the task's executor, arguments and files. */
export function buildStagedTask(task: TaskRecord, fn: FunctionRecord): StagedTask {
  return {
    taskUuid: task.uuid,
    functionUuid: task.functionUuid,
    userId: task.creator,
    executor: task.executor,
    executorType: fn.executorType,
    functionName: fn.name,
    functionArguments: sortArguments(task.functionArguments),
    functionPayload: Buffer.from(fn.payload),
    inputData: new Map(
      [...task.assignedInputs].map(([k, f]) => [
        k,
        { url: f.url, cmac: Buffer.from(f.cmac), crypto: f.crypto, owners: sortedSet(f.owners) },
      ]),
    ),
    outputData: new Map(
      [...task.assignedOutputs].map(([k, f]) => [
        k,
        { url: f.url, crypto: f.crypto, owners: sortedSet(f.owners) },
      ]),
    ),
  };
}

const sortedEntries = <V>(m: Map<string, V>): Array<[string, V]> =>
  [...m.entries()].sort((a, b) => compareBytes(a[0], b[0]));

/**
 * Cloister's addition to the legacy entry (appended last; serde ignores unknown fields, so a
 * legacy node still reads it): whose file this is, in the file record's own `owner` shape.
 */
const ownerJson = (owners: string[]): [string, JsonValue] => ["owner", obj([["uids", owners]])];

/** Owners of a staged entry; a legacy scheduler's entry has none (a node then refuses `file:` URLs). */
function ownersOf(f: Map<string, JsonValue>): string[] {
  const o = f.get("owner");
  return o === undefined ? [] : strings(asObject(o, "owner").get("uids"), "owner.uids");
}

export function stagedTaskToJsonValue(s: StagedTask): JsonValue {
  return obj([
    ["task_id", s.taskUuid],
    ["function_id", s.functionUuid],
    ["user_id", s.userId],
    ["executor", executorToLegacy(s.executor)],
    ["executor_type", executorTypeToLegacy(s.executorType)],
    ["function_name", s.functionName],
    ["function_arguments", obj([["inner", sortArguments(s.functionArguments)]])],
    ["function_payload", bytesToJson(s.functionPayload)],
    [
      "input_data",
      obj([
        [
          "inner",
          obj(
            sortedEntries(s.inputData).map(([k, f]) => [
              k,
              obj([
                ["url", f.url],
                ["cmac", obj([["tag", bytesToJson(f.cmac)]])],
                ["crypto_info", fileCryptoToJson(f.crypto)],
                ownerJson(f.owners),
              ]),
            ]),
          ),
        ],
      ]),
    ],
    [
      "output_data",
      obj([
        [
          "inner",
          obj(
            sortedEntries(s.outputData).map(([k, f]) => [
              k,
              obj([["url", f.url], ["crypto_info", fileCryptoToJson(f.crypto)], ownerJson(f.owners)]),
            ]),
          ),
        ],
      ]),
    ],
  ]);
}

/**
 * The legacy (version 1) JSON text a legacy execution node expects from PullTask. What is
 * queued is written by `stagedTasks` (records/staged-tasks.ts).
 */
export const serializeStagedTask = (s: StagedTask): string => stringifyJson(stagedTaskToJsonValue(s));

/** Either codec version. */
export const parseStagedTask = (text: string | Buffer): StagedTask =>
  decodeJsonRecord(stagedTaskFromJsonValue, text, "staged task");

export function stagedTaskFromJsonValue(v: JsonValue): StagedTask {
  const o = asObject(v, "staged task");
  const innerOf = (key: string) => asObject(asObject(o.get(key), key).get("inner"), `${key}.inner`);
  const inputData = new Map<string, StagedInput>();
  for (const [k, v] of innerOf("input_data")) {
    const f = asObject(v, "input");
    const cmac = bytes(asObject(f.get("cmac"), "cmac").get("tag"), "cmac.tag");
    if (cmac.length !== CMAC_LENGTH) throw new RecordFormatError("cmac.tag: expected 16 bytes");
    inputData.set(k, {
      url: str(f, "url"),
      cmac,
      crypto: fileCryptoFromJson(f.get("crypto_info")),
      owners: ownersOf(f),
    });
  }
  const outputData = new Map<string, StagedOutput>();
  for (const [k, v] of innerOf("output_data")) {
    const f = asObject(v, "output");
    outputData.set(k, {
      url: str(f, "url"),
      crypto: fileCryptoFromJson(f.get("crypto_info")),
      owners: ownersOf(f),
    });
  }
  return {
    taskUuid: taskIdField(o, "task_id"),
    functionUuid: str(o, "function_id"),
    userId: str(o, "user_id"),
    executor: executorFromLegacy(str(o, "executor")),
    executorType: executorTypeFromLegacy(str(o, "executor_type")),
    functionName: str(o, "function_name"),
    functionArguments: sortArguments(innerOf("function_arguments")),
    functionPayload: bytes(o.get("function_payload"), "function_payload"),
    inputData,
    outputData,
  };
}
