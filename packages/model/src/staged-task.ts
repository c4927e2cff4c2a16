import { type FunctionArguments, sortArguments } from "./arguments.js";
import { CMAC_LENGTH, readTag } from "./file.js";
import {
  type FileCrypto,
  fileCryptoFromJson,
  fileCryptoText,
  fileCryptoToJson,
  readFileCrypto,
} from "./file-crypto.js";
import {
  type Executor,
  type ExecutorType,
  executorFromLegacy,
  executorToLegacy,
  executorTypeFromLegacy,
  executorTypeToLegacy,
  type FunctionRecord,
} from "./function.js";
import { bytesToJson, compareBytes, type JsonValue, obj } from "./json.js";
import { argumentsText, bytesText, quote, recordHead, sortedMapText, stringsText } from "./json-text.js";
import { asObject, bytes, RecordFormatError, str, strings } from "./read.js";
import { keyBytes, type RecordReader, readDirect } from "./record-reader.js";
import { decodeJsonRecord } from "./records/codec.js";
import type { TaskId } from "./records/ids.js";
import { sortedSet } from "./sets.js";
import { readArguments, readTaskId, type TaskRecord, taskIdField } from "./task.js";

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
export const serializeStagedTask = (s: StagedTask): string => stagedTaskText(s, false);

/** The text of `stagedTaskToJsonValue(s)` in a codec version (base64: version 2), written directly. */
export function stagedTaskText(s: StagedTask, base64: boolean): string {
  const owner = (owners: string[]) => `"owner":{"uids":${stringsText(owners)}}`;
  return (
    `${recordHead(base64)}"task_id":${quote(s.taskUuid)},"function_id":${quote(s.functionUuid)},` +
    `"user_id":${quote(s.userId)},"executor":${quote(executorToLegacy(s.executor))},` +
    `"executor_type":${quote(executorTypeToLegacy(s.executorType))},"function_name":${quote(s.functionName)},` +
    `"function_arguments":${argumentsText(s.functionArguments)},` +
    `"function_payload":${bytesText(s.functionPayload, base64)},` +
    `"input_data":{"inner":${sortedMapText(
      s.inputData,
      (f) =>
        `{"url":${quote(f.url)},"cmac":{"tag":${bytesText(f.cmac, base64)}},` +
        `"crypto_info":${fileCryptoText(f.crypto, base64)},${owner(f.owners)}}`,
    )}},` +
    `"output_data":{"inner":${sortedMapText(
      s.outputData,
      (f) => `{"url":${quote(f.url)},"crypto_info":${fileCryptoText(f.crypto, base64)},${owner(f.owners)}}`,
    )}}}`
  );
}

const S = {
  taskId: keyBytes("task_id"),
  functionId: keyBytes("function_id"),
  userId: keyBytes("user_id"),
  executor: keyBytes("executor"),
  executorType: keyBytes("executor_type"),
  functionName: keyBytes("function_name"),
  functionArguments: keyBytes("function_arguments"),
  functionPayload: keyBytes("function_payload"),
  inputData: keyBytes("input_data"),
  outputData: keyBytes("output_data"),
  url: keyBytes("url"),
  cmac: keyBytes("cmac"),
  cryptoInfo: keyBytes("crypto_info"),
  owner: keyBytes("owner"),
};

/** A version 2 staged task's fields, in the writer's exact order (see record-reader.ts). */
export function readStagedTaskFields(r: RecordReader): StagedTask {
  r.key(S.taskId);
  const taskUuid = readTaskId(r);
  r.next(S.functionId);
  const functionUuid = r.str();
  r.next(S.userId);
  const userId = r.str();
  r.next(S.executor);
  const executor = executorFromLegacy(r.str());
  r.next(S.executorType);
  const executorType = executorTypeFromLegacy(r.str());
  r.next(S.functionName);
  const functionName = r.str();
  r.next(S.functionArguments);
  const functionArguments = readArguments(r);
  r.next(S.functionPayload);
  const functionPayload = r.bytes();
  r.next(S.inputData);
  const inputData = new Map<string, StagedInput>();
  r.inner((k) => {
    r.open();
    r.key(S.url);
    const url = r.str();
    r.next(S.cmac);
    const cmac = readTag(r);
    r.next(S.cryptoInfo);
    const crypto = readFileCrypto(r);
    r.next(S.owner);
    const owners = r.uids();
    r.close();
    inputData.set(k, { url, cmac, crypto, owners });
  });
  r.next(S.outputData);
  const outputData = new Map<string, StagedOutput>();
  r.inner((k) => {
    r.open();
    r.key(S.url);
    const url = r.str();
    r.next(S.cryptoInfo);
    const crypto = readFileCrypto(r);
    r.next(S.owner);
    const owners = r.uids();
    r.close();
    outputData.set(k, { url, crypto, owners });
  });
  return {
    taskUuid,
    functionUuid,
    userId,
    executor,
    executorType,
    functionName,
    functionArguments,
    functionPayload,
    inputData,
    outputData,
  };
}

/** Either codec version. */
export const parseStagedTask = (text: string | Buffer): StagedTask =>
  readDirect(text, readStagedTaskFields) ?? decodeJsonRecord(stagedTaskFromJsonValue, text, "staged task");

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
