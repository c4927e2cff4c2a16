export * from "./arguments.js";
export * from "./byte-format.js";
export * from "./file.js";
export * from "./file-crypto.js";
export * from "./function.js";
export * from "./ids.js";
export {
  bytesToJson,
  canonicalize,
  canonicalJson,
  compareBytes,
  formatFloat,
  isJsonObject,
  JsonNumber,
  type JsonObject,
  JsonSyntaxError,
  type JsonValue,
  obj,
  parseJson,
  parseJsonBytes,
  stringifyJson,
  toPlain,
} from "./json.js";
export * from "./read.js";
export * from "./records/index.js";
export * from "./scheduler-status.js";
export * from "./sets.js";
export * from "./staged-task.js";
export * from "./task.js";
export * from "./task-log.js";
export * from "./task-state.js";
