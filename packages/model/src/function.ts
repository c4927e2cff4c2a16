import { cloisterError } from "@cloister/core";
import { bytesToJson, JsonNumber, type JsonValue, obj, writeNumber } from "./json.js";
import { bytesText, quote, recordHead, stringsText } from "./json-text.js";
import { arr, asObject, bool, bytes, intValue, RecordFormatError, str, strings } from "./read.js";
import { keyBytes, type RecordReader } from "./record-reader.js";
import { decodeJsonRecord } from "./records/codec.js";

/**
 * A function's executor type as registered on the wire. `javascript` (sandboxed QuickJS) and
 * `libos` (unmodified programs in attested LibOS instances) are Cloister extensions; the others
 * are Teaclave's.
 */
export type ExecutorType = "builtin" | "python" | "wamr" | "javascript" | "libos";
/**
 * A task's executor as chosen at CreateTask (`python3`, plain Python 3 for `python` functions,
 * `javascript` and `libos` are Cloister extensions).
 */
export type Executor = "mesapy" | "python3" | "builtin" | "wamr" | "javascript" | "libos";

const EXECUTOR_TYPE_LEGACY: Record<ExecutorType, string> = {
  builtin: "Builtin",
  python: "Python",
  wamr: "WAMicroRuntime",
  javascript: "JavaScript",
  libos: "LibOS",
};
const EXECUTOR_LEGACY: Record<Executor, string> = {
  mesapy: "MesaPy",
  python3: "Python3",
  builtin: "Builtin",
  wamr: "WAMicroRuntime",
  javascript: "JavaScript",
  libos: "LibOS",
};

/** Legacy name → our name, for reading records (built once: every record read looks one up). */
const reverseOf = <K extends string>(m: Record<K, string>): Map<string, K> =>
  new Map(Object.entries(m).map(([k, x]) => [x as string, k as K]));
const EXECUTOR_TYPE_FROM_LEGACY = reverseOf(EXECUTOR_TYPE_LEGACY);
const EXECUTOR_FROM_LEGACY = reverseOf(EXECUTOR_LEGACY);

const reverse = <K extends string>(m: Map<string, K>, v: string, what: string): K => {
  const k = m.get(v);
  if (k === undefined) throw new RecordFormatError(`${what}: unknown value ${v}`);
  return k;
};

/** RegisterFunction/UpdateFunction: 13 `Invalid executor type: <s>` for anything else. */
export function parseExecutorType(s: string): ExecutorType {
  if (s === "builtin" || s === "python" || s === "wamr" || s === "javascript" || s === "libos") return s;
  throw cloisterError("INVALID_EXECUTOR_TYPE", { value: s });
}

/** CreateTask: 13 `Unsupported executor: <s>` for anything else. */
export function parseExecutor(s: string): Executor {
  if (
    s === "mesapy" ||
    s === "python3" ||
    s === "builtin" ||
    s === "wamr" ||
    s === "javascript" ||
    s === "libos"
  )
    return s;
  throw cloisterError("UNSUPPORTED_EXECUTOR", { value: s });
}

export const executorTypeToLegacy = (t: ExecutorType): string => EXECUTOR_TYPE_LEGACY[t];
export const executorTypeFromLegacy = (s: string): ExecutorType =>
  reverse(EXECUTOR_TYPE_FROM_LEGACY, s, "executor_type");
export const executorToLegacy = (e: Executor): string => EXECUTOR_LEGACY[e];
export const executorFromLegacy = (s: string): Executor => reverse(EXECUTOR_FROM_LEGACY, s, "executor");

export interface FunctionArgumentDecl {
  key: string;
  defaultValue: string;
  allowOverwrite: boolean;
}

export interface FunctionIoDecl {
  name: string;
  description: string;
  optional: boolean;
}

/** A registered function (`function-<uuid>`). */
export interface FunctionRecord {
  uuid: string;
  name: string;
  description: string;
  public: boolean;
  executorType: ExecutorType;
  payload: Buffer;
  arguments: FunctionArgumentDecl[];
  inputs: FunctionIoDecl[];
  outputs: FunctionIoDecl[];
  owner: string;
  userAllowlist: string[];
  /** null = unlimited (a negative quota at registration). */
  usageQuota: number | null;
}

/** Wire `usage_quota` → record: negative means unlimited. */
export const quotaFromWire = (q: number): number | null => (q < 0 ? null : q);

const ioJson = (d: FunctionIoDecl): JsonValue =>
  obj([
    ["name", d.name],
    ["description", d.description],
    ["optional", d.optional],
  ]);

const ioFromJson = (v: JsonValue): FunctionIoDecl => {
  const o = asObject(v, "function io");
  return { name: str(o, "name"), description: str(o, "description"), optional: bool(o, "optional") };
};

export function functionToJsonValue(f: FunctionRecord): JsonValue {
  return obj([
    ["id", f.uuid],
    ["name", f.name],
    ["description", f.description],
    ["public", f.public],
    ["executor_type", executorTypeToLegacy(f.executorType)],
    ["payload", bytesToJson(f.payload)],
    [
      "arguments",
      f.arguments.map((a) =>
        obj([
          ["key", a.key],
          ["default_value", a.defaultValue],
          ["allow_overwrite", a.allowOverwrite],
        ]),
      ),
    ],
    ["inputs", f.inputs.map(ioJson)],
    ["outputs", f.outputs.map(ioJson)],
    ["owner", f.owner],
    ["user_allowlist", [...f.userAllowlist]],
    ["usage_quota", f.usageQuota === null ? null : JsonNumber.int(f.usageQuota)],
  ]);
}

export function functionFromJsonValue(v: JsonValue | undefined): FunctionRecord {
  const o = asObject(v, "function");
  const q = o.get("usage_quota");
  return {
    uuid: str(o, "id"),
    name: str(o, "name"),
    description: str(o, "description"),
    public: bool(o, "public"),
    executorType: executorTypeFromLegacy(str(o, "executor_type")),
    payload: bytes(o.get("payload"), "payload"),
    arguments: arr(o, "arguments").map((x) => {
      const a = asObject(x, "argument");
      return {
        key: str(a, "key"),
        defaultValue: str(a, "default_value"),
        allowOverwrite: bool(a, "allow_overwrite"),
      };
    }),
    inputs: arr(o, "inputs").map(ioFromJson),
    outputs: arr(o, "outputs").map(ioFromJson),
    owner: str(o, "owner"),
    userAllowlist: strings(o.get("user_allowlist"), "user_allowlist"),
    usageQuota: q === null || q === undefined ? null : intValue(q, "usage_quota"),
  };
}

/** Legacy (version 1) text; stored records are written by `functionRecords` (records/functions.ts). */
export const serializeFunction = (f: FunctionRecord): string => functionText(f, false);

const ioText = (d: FunctionIoDecl): string =>
  `{"name":${quote(d.name)},"description":${quote(d.description)},"optional":${d.optional}}`;

const listText = <T>(items: readonly T[], item: (x: T) => string): string =>
  items.length === 0 ? "[]" : `[${items.map(item).join(",")}]`;

/** The text of `functionToJsonValue(f)` in a codec version (base64: version 2), written directly. */
export function functionText(f: FunctionRecord, base64: boolean): string {
  return (
    `${recordHead(base64)}"id":${quote(f.uuid)},"name":${quote(f.name)},"description":${quote(f.description)},` +
    `"public":${f.public},"executor_type":${quote(executorTypeToLegacy(f.executorType))},` +
    `"payload":${bytesText(f.payload, base64)},"arguments":${listText(
      f.arguments,
      (a) =>
        `{"key":${quote(a.key)},"default_value":${quote(a.defaultValue)},"allow_overwrite":${a.allowOverwrite}}`,
    )},"inputs":${listText(f.inputs, ioText)},"outputs":${listText(f.outputs, ioText)},` +
    `"owner":${quote(f.owner)},"user_allowlist":${stringsText(f.userAllowlist)},` +
    `"usage_quota":${f.usageQuota === null ? "null" : JsonNumber.int(f.usageQuota).text}}`
  );
}

const F = {
  name: keyBytes("name"),
  description: keyBytes("description"),
  public: keyBytes("public"),
  executorType: keyBytes("executor_type"),
  payload: keyBytes("payload"),
  arguments: keyBytes("arguments"),
  key: keyBytes("key"),
  defaultValue: keyBytes("default_value"),
  allowOverwrite: keyBytes("allow_overwrite"),
  inputs: keyBytes("inputs"),
  outputs: keyBytes("outputs"),
  optional: keyBytes("optional"),
  owner: keyBytes("owner"),
  userAllowlist: keyBytes("user_allowlist"),
  usageQuota: keyBytes("usage_quota"),
  id: keyBytes("id"),
  functionId: keyBytes("function_id"),
  useNumbers: keyBytes("use_numbers"),
};

function readIo(r: RecordReader): FunctionIoDecl {
  r.open();
  r.key(F.name);
  const name = r.str();
  r.next(F.description);
  const description = r.str();
  r.next(F.optional);
  const optional = r.bool();
  r.close();
  return { name, description, optional };
}

/** A version 2 function record's fields, in the writer's exact order (see record-reader.ts). */
export function readFunctionFields(r: RecordReader): FunctionRecord {
  r.key(F.id);
  const uuid = r.str();
  r.next(F.name);
  const name = r.str();
  r.next(F.description);
  const description = r.str();
  r.next(F.public);
  const isPublic = r.bool();
  r.next(F.executorType);
  const executorType = executorTypeFromLegacy(r.str());
  r.next(F.payload);
  const payload = r.bytes();
  r.next(F.arguments);
  const args = r.list((): FunctionArgumentDecl => {
    r.open();
    r.key(F.key);
    const key = r.str();
    r.next(F.defaultValue);
    const defaultValue = r.str();
    r.next(F.allowOverwrite);
    const allowOverwrite = r.bool();
    r.close();
    return { key, defaultValue, allowOverwrite };
  });
  r.next(F.inputs);
  const inputs = r.list(() => readIo(r));
  r.next(F.outputs);
  const outputs = r.list(() => readIo(r));
  r.next(F.owner);
  const owner = r.str();
  r.next(F.userAllowlist);
  const userAllowlist = r.strings();
  r.next(F.usageQuota);
  const usageQuota = r.isNull() ? null : r.integer();
  return {
    uuid,
    name,
    description,
    public: isPublic,
    executorType,
    payload,
    arguments: args,
    inputs,
    outputs,
    owner,
    userAllowlist,
    usageQuota,
  };
}
/** Either codec version. */
export const parseFunction = (text: string): FunctionRecord =>
  decodeJsonRecord(functionFromJsonValue, text, "function");

/** How many times a function has been invoked (`usage-<uuid>`). */
export interface UsageRecord {
  functionUuid: string;
  useNumbers: number;
}

export const usageToJsonValue = (u: UsageRecord): JsonValue =>
  obj([
    ["function_id", u.functionUuid],
    ["use_numbers", u.useNumbers],
  ]);

export function usageFromJsonValue(v: JsonValue): UsageRecord {
  const o = asObject(v, "usage");
  return { functionUuid: str(o, "function_id"), useNumbers: intValue(o.get("use_numbers"), "use_numbers") };
}

export const serializeUsage = (u: UsageRecord): string => usageText(u, false);

/** The text of `usageToJsonValue(u)` (no byte fields: both versions differ only by the head). */
export const usageText = (u: UsageRecord, base64: boolean): string =>
  `${recordHead(base64)}"function_id":${quote(u.functionUuid)},"use_numbers":${writeNumber(u.useNumbers)}}`;

/** A version 2 usage record's fields. */
export function readUsageFields(r: RecordReader): UsageRecord {
  r.key(F.functionId);
  const functionUuid = r.str();
  r.next(F.useNumbers);
  return { functionUuid, useNumbers: r.integer() };
}
export const parseUsage = (text: string): UsageRecord => decodeJsonRecord(usageFromJsonValue, text, "usage");

/** The function lists of one user (`user-<uuid v5 of user id>`); entries are `function-<uuid>` ids. */
export interface UserFunctionsRecord {
  id: string;
  registeredFunctions: string[];
  allowedFunctions: string[];
}

export const userFunctionsToJsonValue = (u: UserFunctionsRecord): JsonValue =>
  obj([
    ["id", u.id],
    ["registered_functions", [...u.registeredFunctions]],
    ["allowed_functions", [...u.allowedFunctions]],
  ]);

export const serializeUserFunctions = (u: UserFunctionsRecord): string => userFunctionsText(u, false);

/** The text of `userFunctionsToJsonValue(u)` (no byte fields: the versions differ by the head). */
export const userFunctionsText = (u: UserFunctionsRecord, base64: boolean): string =>
  `${recordHead(base64)}"id":${quote(u.id)},"registered_functions":${stringsText(u.registeredFunctions)},` +
  `"allowed_functions":${stringsText(u.allowedFunctions)}}`;
export const parseUserFunctions = (text: string): UserFunctionsRecord =>
  decodeJsonRecord(userFunctionsFromJsonValue, text, "user");

export function userFunctionsFromJsonValue(v: JsonValue): UserFunctionsRecord {
  const o = asObject(v, "user");
  return {
    id: str(o, "id"),
    registeredFunctions: strings(o.get("registered_functions"), "registered_functions"),
    allowedFunctions: strings(o.get("allowed_functions"), "allowed_functions"),
  };
}
