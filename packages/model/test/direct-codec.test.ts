// The direct record codecs (typed record ⇄ bytes, no JsonValue tree) against the tree codecs they
// replace: the same bytes for every record, in both codec versions, and the same record (or the
// same error) for every text, including texts the direct reader does not know.
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  type AuditEntry,
  auditEntries,
  buildStagedTask,
  type Executor,
  type ExecutorType,
  type FileCrypto,
  type FunctionRecord,
  functionRecords,
  type InputFileRecord,
  inputRecords,
  JsonNumber,
  type JsonObject,
  type JsonValue,
  type OutputFileRecord,
  outputRecords,
  parseJson,
  parseStagedTask,
  parseTask,
  type RecordCodec,
  readFunctionFields,
  readInputFileFields,
  readOutputFileFields,
  readStagedTaskFields,
  readTaskFields,
  readUsageFields,
  type StagedTask,
  serializeFunction,
  serializeInputFile,
  serializeOutputFile,
  serializeStagedTask,
  serializeTask,
  serializeUsage,
  serializeUserFunctions,
  stagedTasks,
  stagedTaskToJsonValue,
  stringifyJson,
  TaskId,
  type TaskRecord,
  type TaskResult,
  TaskStatus,
  taskRecords,
  taskToJsonValue,
  type UsageRecord,
  type UserFunctionsRecord,
  usageRecords,
  userFunctionsRecords,
} from "../src/index.js";
import { type RecordReader, readDirect } from "../src/record-reader.js";

/** A small deterministic PRNG (mulberry32), so a failure names a seed that reproduces it. */
function rng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)] as T;
  return { next, int, pick };
}
type Rng = ReturnType<typeof rng>;

// Characters that exercise escaping, byte order and UTF-8: quotes, backslashes, controls,
// non-ASCII, astral characters and a lone surrogate.
const ALPHABET = [
  "a",
  "b",
  "Z",
  "0",
  "9",
  "-",
  "_",
  " ",
  '"',
  "\\",
  "/",
  "\n",
  "\t",
  "\u0001",
  "\u007f",
  "é",
  "ß",
  "中",
  "😀",
  "\ud800",
  "{",
  "}",
  ":",
  ",",
];
const uuid = (r: Rng) =>
  [8, 4, 4, 4, 12]
    .map((n) => Array.from({ length: n }, () => "0123456789abcdef"[r.int(16)]).join(""))
    .join("-");
const text = (r: Rng, max = 8) => Array.from({ length: r.int(max) }, () => r.pick(ALPHABET)).join("");
const bytes = (r: Rng, n: number) => Buffer.from(Array.from({ length: n }, () => r.int(256)));
const set = (r: Rng) => new Set(Array.from({ length: r.int(4) }, () => text(r, 5)));

function jsonValue(r: Rng, depth: number): JsonValue {
  const k = r.int(depth > 2 ? 6 : 8);
  switch (k) {
    case 0:
      return null;
    case 1:
      return r.next() < 0.5;
    case 2:
      return text(r);
    case 3:
      return JsonNumber.int(r.int(1000) - 500);
    case 4:
      return JsonNumber.float((r.next() - 0.5) * 10 ** r.int(30));
    case 5:
      return parseJson(r.pick(["18446744073709551615", "-9223372036854775808", "1.0", "1e300", "0.1", "-0"]));
    case 6:
      return Array.from({ length: r.int(4) }, () => jsonValue(r, depth + 1));
    default:
      return jsonObject(r, depth + 1);
  }
}

function jsonObject(r: Rng, depth: number): JsonObject {
  const o: JsonObject = new Map();
  for (let i = r.int(4); i > 0; i--) o.set(text(r, 4), jsonValue(r, depth));
  return o;
}

function crypto(r: Rng): FileCrypto {
  switch (r.int(4)) {
    case 0:
      return { schema: "aes-gcm-128", key: bytes(r, 16), iv: bytes(r, 12) };
    case 1:
      return { schema: "aes-gcm-256", key: bytes(r, 32), iv: bytes(r, 12) };
    case 2:
      return { schema: "teaclave-file-128", key: bytes(r, 16) };
    default:
      return { schema: "raw" };
  }
}

const inputFile = (r: Rng): InputFileRecord => ({
  uuid: uuid(r),
  url: text(r, 12),
  cmac: bytes(r, 16),
  crypto: crypto(r),
  owners: set(r),
});

const outputFile = (r: Rng): OutputFileRecord => ({
  uuid: uuid(r),
  url: text(r, 12),
  cmac: r.next() < 0.5 ? null : bytes(r, 16),
  crypto: crypto(r),
  owners: set(r),
});

function result(r: Rng): TaskResult {
  switch (r.int(3)) {
    case 0:
      return { kind: "NotReady" };
    case 1: {
      const tags = new Map<string, Buffer>();
      for (let i = r.int(3); i > 0; i--) tags.set(text(r, 4), bytes(r, 16));
      const log = Array.from({ length: r.int(3) }, () => text(r));
      return r.next() < 0.5
        ? { kind: "Ok", returnValue: bytes(r, r.int(40)), tagsMap: tags, log }
        : { kind: "Ok", returnValue: bytes(r, r.int(40)), tagsMap: tags, log, failure: text(r) };
    }
    default:
      return { kind: "Err", reason: text(r) };
  }
}

const EXECUTORS: Executor[] = ["mesapy", "python3", "builtin", "wamr", "javascript", "libos"];
const EXECUTOR_TYPES: ExecutorType[] = ["builtin", "python", "wamr", "javascript", "libos"];
const STATUSES = [
  TaskStatus.Created,
  TaskStatus.DataAssigned,
  TaskStatus.Approved,
  TaskStatus.Staged,
  TaskStatus.Running,
  TaskStatus.Finished,
  TaskStatus.Canceled,
  TaskStatus.Failed,
];

function mapOf<V>(r: Rng, value: () => V): Map<string, V> {
  const m = new Map<string, V>();
  for (let i = r.int(4); i > 0; i--) m.set(text(r, 5), value());
  return m;
}

function task(r: Rng): TaskRecord {
  return {
    uuid: TaskId.fromUuid(uuid(r)),
    creator: text(r),
    functionUuid: uuid(r),
    // Stored arguments are canonical (the reader sorts them as the tree decoder does).
    functionArguments: jsonObject(r, 3),
    executor: r.pick(EXECUTORS),
    inputsOwnership: mapOf(r, () => set(r)),
    outputsOwnership: mapOf(r, () => set(r)),
    functionOwner: text(r),
    participants: set(r),
    approvedUsers: set(r),
    assignedInputs: mapOf(r, () => inputFile(r)),
    assignedOutputs: mapOf(r, () => outputFile(r)),
    result: result(r),
    status: r.pick(STATUSES),
  };
}

function fn(r: Rng): FunctionRecord {
  const io = () => ({ name: text(r), description: text(r), optional: r.next() < 0.5 });
  return {
    uuid: uuid(r),
    name: text(r),
    description: text(r, 20),
    public: r.next() < 0.5,
    executorType: r.pick(EXECUTOR_TYPES),
    payload: bytes(r, r.int(64)),
    arguments: Array.from({ length: r.int(3) }, () => ({
      key: text(r),
      defaultValue: text(r),
      allowOverwrite: r.next() < 0.5,
    })),
    inputs: Array.from({ length: r.int(3) }, io),
    outputs: Array.from({ length: r.int(3) }, io),
    owner: text(r),
    userAllowlist: Array.from({ length: r.int(3) }, () => text(r)),
    usageQuota: r.next() < 0.3 ? null : r.pick([0, 1, r.int(1e6), 2 ** 53 - 1]),
  };
}

const staged = (r: Rng): StagedTask => {
  const t = task(r);
  t.assignedOutputs = new Map([...t.assignedOutputs].map(([k, f]) => [k, { ...f, cmac: null }]));
  return buildStagedTask(t, fn(r));
};
const usage = (r: Rng): UsageRecord => ({
  functionUuid: uuid(r),
  useNumbers: r.pick([0, 1, r.int(1e9), 2 ** 53 - 1, 2 ** 60]),
});
const userFunctions = (r: Rng): UserFunctionsRecord => ({
  id: text(r),
  registeredFunctions: Array.from({ length: r.int(3) }, () => `function-${uuid(r)}`),
  allowedFunctions: Array.from({ length: r.int(3) }, () => `function-${uuid(r)}`),
});
const audit = (r: Rng): AuditEntry => ({
  microsecond: r.pick([0, r.int(2 ** 52), 1.7e15 + 0.5]),
  ip: bytes(r, r.pick([0, 4, 16])),
  user: text(r),
  message: text(r, 30),
  result: r.next() < 0.5,
});

interface Case<T> {
  name: string;
  codec: RecordCodec<T> & { tree?: RecordCodec<T> | undefined };
  make: (r: Rng) => T;
  read?: (r: RecordReader) => T;
  /** The legacy serialiser of the type, where it has one. */
  legacy?: (x: T) => string;
}

const CASES: Array<Case<unknown>> = [
  { name: "task", codec: taskRecords, make: task, read: readTaskFields, legacy: serializeTask },
  {
    name: "staged task",
    codec: stagedTasks,
    make: staged,
    read: readStagedTaskFields,
    legacy: serializeStagedTask,
  },
  { name: "function", codec: functionRecords, make: fn, read: readFunctionFields, legacy: serializeFunction },
  { name: "usage", codec: usageRecords, make: usage, read: readUsageFields, legacy: serializeUsage },
  {
    name: "user functions",
    codec: userFunctionsRecords,
    make: userFunctions,
    legacy: serializeUserFunctions,
  },
  {
    name: "input",
    codec: inputRecords,
    make: inputFile,
    read: readInputFileFields,
    legacy: serializeInputFile,
  },
  {
    name: "output",
    codec: outputRecords,
    make: outputFile,
    read: readOutputFileFields,
    legacy: serializeOutputFile,
  },
  { name: "audit entry", codec: auditEntries, make: audit },
] as unknown as Array<Case<unknown>>;

const RECORDS = 150;

/** The same outcome from both decoders: equal records, or errors of the same class and text. */
function sameDecode<T>(c: Case<T>, raw: Buffer | string, what: string): void {
  const treeCodec = c.codec.tree!;
  let tree: { ok: T } | { err: Error };
  let direct: { ok: T } | { err: Error };
  try {
    tree = { ok: treeCodec.decode(raw) };
  } catch (e) {
    tree = { err: e as Error };
  }
  try {
    direct = { ok: c.codec.decode(raw) };
  } catch (e) {
    direct = { err: e as Error };
  }
  if ("err" in tree) {
    assert.ok(
      "err" in direct,
      `${what}: the direct codec accepted what the tree codec refuses (${tree.err.message})`,
    );
    assert.equal(direct.err.constructor, tree.err.constructor, what);
    assert.equal(direct.err.message, tree.err.message, what);
  } else {
    assert.ok("ok" in direct, `${what}: ${"err" in direct ? direct.err.message : ""}`);
    assert.deepStrictEqual(direct.ok, tree.ok, what);
  }
}

/** Whether the tree codec reads the text back (a lone surrogate, written escaped, is refused by it). */
const treeReads = <T>(c: Case<T>, raw: Buffer) => {
  try {
    c.codec.tree!.decode(raw);
    return true;
  } catch {
    return false;
  }
};

for (const c of CASES) {
  test(`${c.name}: direct encode gives the tree codec's bytes in both versions, and decodes alike`, () => {
    for (let seed = 1; seed <= RECORDS; seed++) {
      const record = c.make(rng(seed));
      for (const version of [1, 2] as const) {
        const what = `${c.name} seed ${seed} v${version}`;
        const direct = c.codec.encode(record, version);
        const tree = c.codec.tree!.encode(record, version);
        assert.equal(direct.toString("latin1"), tree.toString("latin1"), what);
        sameDecode(c, direct, what);
        sameDecode(c, direct.toString("utf8"), `${what} (text)`);
        if (version === 2 && c.read && treeReads(c, direct)) {
          // Every record the writer produces is read on the fast path, to the same record.
          const fast = readDirect(direct, c.read);
          assert.ok(fast !== undefined, `${what}: not read directly`);
          assert.deepStrictEqual(fast, c.codec.tree!.decode(direct), what);
        }
      }
      if (c.legacy) assert.equal(c.legacy(record), c.codec.tree!.encode(record, 1).toString("utf8"));
    }
  });

  test(`${c.name}: texts off the writer's shape decode as the tree codec decodes them`, () => {
    for (let seed = 1; seed <= 40; seed++) {
      const r = rng(1000 + seed);
      const raw = c.codec.encode(c.make(r), 2);
      if (!treeReads(c, raw)) continue;
      const v2 = raw.toString("utf8");
      const variants = mutations(v2, r);
      for (const [i, v] of variants.entries()) sameDecode(c, v, `${c.name} seed ${seed} variant ${i}: ${v}`);
    }
  });
}

/** Texts near a record: other spacing, key order, extra or repeated fields, wrong types, damage. */
function mutations(v2: string, r: Rng): string[] {
  const out: string[] = [];
  const tree = parseJson(v2) as JsonObject;
  const keys = [...tree.keys()];
  const withEntries = (entries: Array<[string, JsonValue]>) => stringifyJson(new Map(entries));
  // Whitespace between tokens (outside strings, where it changes nothing).
  out.push(v2.replace(/,"/g, ', "').replace(/":/g, '" : '));
  out.push(` ${v2}\n`);
  const head = '{"v":2,';
  out.push(head + v2.slice(head.length).replace(/,"/g, ',\n "').replace(/":/g, '"\t:'));
  // Another key order; a key dropped; an unknown key; a repeated key (last wins in both).
  const entries = [...tree.entries()];
  out.push(withEntries([entries[0]!, ...entries.slice(1).reverse()]));
  if (entries.length > 2)
    out.push(withEntries(entries.filter((_, i) => i !== 1 + r.int(entries.length - 1))));
  out.push(withEntries([...entries, ["extra", 1]]));
  const k = keys[1 + r.int(keys.length - 1)]!;
  out.push(withEntries([...entries, [k, tree.get(k)!]]));
  out.push(withEntries([...entries, [k, "wrong"]]));
  // A field of the wrong type, each in turn.
  for (const key of keys.slice(1)) out.push(withEntries(entries.map(([x, v]) => [x, x === key ? 7 : v])));
  // A version 1 text under a version 2 head; an unknown version; truncation; trailing bytes.
  out.push(v2.replace('{"v":2,', '{"v":1,'));
  out.push(v2.slice(0, 1 + r.int(v2.length - 1)));
  out.push(`${v2}x`);
  out.push(`${v2}{}`);
  // A byte inside a string changed to an escape of itself, and to a control character.
  out.push(v2.replace(/"([a-z])/, '"\\u0061'));
  out.push(v2.replace(/":"/, '":"\u0001'));
  return out;
}

test("the JsonValue-tree writers and the legacy texts stay what the direct writers produce", () => {
  // A sample of each through stringifyJson of the tree, independently of the codec objects.
  for (let seed = 1; seed <= 20; seed++) {
    const t = task(rng(seed));
    assert.equal(serializeTask(t), stringifyJson(taskToJsonValue(t)));
    const s = staged(rng(seed));
    assert.equal(serializeStagedTask(s), stringifyJson(stagedTaskToJsonValue(s)));
    const tc: Case<TaskRecord> = { name: "task", codec: taskRecords, make: task };
    const sc: Case<StagedTask> = { name: "staged", codec: stagedTasks, make: staged };
    if (treeReads(tc, Buffer.from(serializeTask(t))))
      assert.deepStrictEqual(
        parseTask(taskRecords.encode(t).toString()),
        taskRecords.tree!.decode(serializeTask(t)),
      );
    if (treeReads(sc, stagedTasks.encode(s)))
      assert.deepStrictEqual(
        parseStagedTask(stagedTasks.encode(s)),
        stagedTasks.tree!.decode(stagedTasks.encode(s)),
      );
  }
});
