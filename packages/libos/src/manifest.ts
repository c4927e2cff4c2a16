import { parse as parseToml } from "smol-toml";
import { isArchive, readArchive } from "./archive.js";
import { LibosError } from "./errors.js";
import { isRuntimeName, RUNTIME_NAMES, RUNTIMES, type RuntimeName } from "./runtimes.js";

export const MANIFEST_FILE = "cloister-function.toml";
export const MANIFEST_SCHEMA = "cloister.libos/1";

/** What a function owner declares; everything else (mounts, devices, network) is fixed. */
export interface FunctionManifest {
  runtime: RuntimeName;
  /** argv before the task's arguments (Teaclave convention: `k1 v1 k2 v2 …` appended). */
  command: string[];
  env: Record<string, string>;
  resources: {
    memoryMib?: number;
    timeoutS?: number;
    cpuS?: number;
    processes?: number;
    tmpMib?: number;
  };
  inputs: string[];
  outputs: string[];
  /** Where the task's return value comes from. */
  result: "stdout" | "none";
  /**
   * python3 only: "zygote" (default) runs the script in the instance's warm interpreter, numpy
   * already imported; "exec" starts a fresh interpreter (for interpreter options in `command`).
   */
  mode: "zygote" | "exec";
}

const FILE_NAME = /^[A-Za-z0-9._-]{1,128}$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;
/** Variables that would change what the runtime itself loads: owners cannot set them. */
const RESERVED_ENV =
  /^(LD_|GCONV_PATH$|PATH$|HOME$|JAVA_TOOL_OPTIONS$|_JAVA_OPTIONS$|PYTHONHOME$|PYTHONSTARTUP$)/;

const bad = (m: string) => new LibosError("manifest", m);

function positiveInt(v: unknown, what: string, max: number): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== "number" || !Number.isInteger(v) || v < 1 || v > max)
    throw bad(`${what} must be an integer from 1 to ${max}`);
  return v;
}

function stringList(v: unknown, what: string, check?: RegExp): string[] {
  if (v === undefined) return [];
  if (!Array.isArray(v) || !v.every((s) => typeof s === "string"))
    throw bad(`${what} must be a list of strings`);
  if (check)
    for (const s of v)
      if (!check.test(s)) throw bad(`${what}: ${JSON.stringify(s.slice(0, 64))} is not a valid name`);
  if (new Set(v).size !== v.length) throw bad(`${what} has duplicates`);
  return v as string[];
}

/** Parses and validates cloister-function.toml. Throws LibosError("manifest"). */
export function parseManifest(text: string): FunctionManifest {
  let doc: Record<string, unknown>;
  try {
    doc = parseToml(text) as Record<string, unknown>;
  } catch (e) {
    throw bad(`${MANIFEST_FILE} is not valid TOML: ${(e as Error).message.split("\n")[0]}`);
  }
  const known = new Set(["schema", "runtime", "command", "env", "resources", "files", "result", "mode"]);
  for (const k of Object.keys(doc)) if (!known.has(k)) throw bad(`unknown manifest key ${JSON.stringify(k)}`);
  if (doc.schema !== MANIFEST_SCHEMA) throw bad(`schema must be "${MANIFEST_SCHEMA}"`);
  if (typeof doc.runtime !== "string" || !isRuntimeName(doc.runtime)) {
    throw bad(`runtime must be one of ${RUNTIME_NAMES.join(", ")}`);
  }
  const command = stringList(doc.command, "command");
  if (command.length === 0 || command.length > 64)
    throw bad("command must list the program and its fixed arguments");
  if (command.some((c) => c.includes("\0") || c.length > 4096)) throw bad("command has an invalid argument");
  const envDoc = (doc.env ?? {}) as Record<string, unknown>;
  if (typeof envDoc !== "object" || Array.isArray(envDoc)) throw bad("env must be a table of strings");
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(envDoc)) {
    if (!ENV_NAME.test(k) || RESERVED_ENV.test(k))
      throw bad(`env ${JSON.stringify(k.slice(0, 64))} cannot be set`);
    if (typeof v !== "string" || v.includes("\0") || v.length > 4096)
      throw bad(`env ${k} must be a literal string`);
    env[k] = v;
  }
  const res = (doc.resources ?? {}) as Record<string, unknown>;
  for (const k of Object.keys(res)) {
    if (!["memory_mib", "timeout_s", "cpu_s", "processes", "tmp_mib"].includes(k))
      throw bad(`unknown resource ${JSON.stringify(k)}`);
  }
  const files = (doc.files ?? {}) as Record<string, unknown>;
  for (const k of Object.keys(files))
    if (k !== "inputs" && k !== "outputs") throw bad(`unknown files key ${JSON.stringify(k)}`);
  const result = (doc.result ?? {}) as Record<string, unknown>;
  const from = result.from ?? "stdout";
  if (from !== "stdout" && from !== "none") throw bad('result.from must be "stdout" or "none"');
  if (doc.mode !== undefined && doc.mode !== "exec" && doc.mode !== "zygote")
    throw bad('mode must be "exec" or "zygote"');
  const resources: FunctionManifest["resources"] = {};
  const put = (k: keyof FunctionManifest["resources"], v: number | undefined) => {
    if (v !== undefined) resources[k] = v;
  };
  put("memoryMib", positiveInt(res.memory_mib, "resources.memory_mib", 65_536));
  put("timeoutS", positiveInt(res.timeout_s, "resources.timeout_s", 86_400));
  put("cpuS", positiveInt(res.cpu_s, "resources.cpu_s", 86_400));
  put("processes", positiveInt(res.processes, "resources.processes", 4096));
  put("tmpMib", positiveInt(res.tmp_mib, "resources.tmp_mib", 16_384));
  return {
    runtime: doc.runtime,
    command,
    env,
    resources,
    inputs: stringList(files.inputs, "files.inputs", FILE_NAME),
    outputs: stringList(files.outputs, "files.outputs", FILE_NAME),
    result: from,
    mode: (doc.mode as "exec" | "zygote" | undefined) ?? "zygote",
  };
}

/** Which runtime a bare payload (one file, no manifest) runs in, by its first bytes. */
export function runtimeOfBarePayload(payload: Buffer): RuntimeName {
  if (payload.subarray(0, 4).equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46]))) return "static";
  if (payload.subarray(0, 4).equals(Buffer.from([0x50, 0x4b, 0x03, 0x04]))) return "java";
  return "python3";
}

/**
 * The manifest a payload runs under: the archive's cloister-function.toml, or the defaults of
 * the runtime a single file implies (an ELF → static, a jar → java, anything else → python3).
 */
export function manifestOf(payload: Buffer): FunctionManifest {
  if (!isArchive(payload)) {
    const runtime = runtimeOfBarePayload(payload);
    return {
      runtime,
      command: [...RUNTIMES[runtime].defaultCommand],
      env: {},
      resources: {},
      inputs: [],
      outputs: [],
      result: "stdout",
      mode: "zygote",
    };
  }
  const files = readArchive(payload);
  const text = files.get(MANIFEST_FILE);
  if (!text) throw bad(`the archive has no ${MANIFEST_FILE} at its top level`);
  return parseManifest(text.toString("utf8"));
}
