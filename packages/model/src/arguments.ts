import { CloisterError, cloisterError, ERRORS } from "@cloister/core";
import type { FunctionArgumentDecl } from "./function.js";
import {
  canonicalize,
  canonicalJson,
  compareBytes,
  isJsonObject,
  type JsonObject,
  JsonSyntaxError,
  type JsonValue,
  parseJson,
} from "./json.js";

/** Merged task arguments: a JSON object kept in ascending byte order of its keys. */
export type FunctionArguments = JsonObject;

/** A deep copy with every object's keys in canonical (byte) order, as the legacy ordered map keeps them. */
export function sortArguments(args: JsonObject): FunctionArguments {
  return canonicalize(args) as FunctionArguments;
}

/** Whether every object in `v` already has its keys in ascending byte order (no copy needed). */
export function isCanonical(v: JsonValue): boolean {
  if (Array.isArray(v)) return v.every(isCanonical);
  if (!isJsonObject(v)) return true;
  let prev: string | undefined;
  for (const [k, x] of v) {
    if (prev !== undefined && compareBytes(prev, k) >= 0) return false;
    if (!isCanonical(x)) return false;
    prev = k;
  }
  return true;
}

/**
 * CreateTask's `function_arguments` text → object: 3 with the JSON
 * parser's text, or `Cannot convert to function arguments` for valid JSON that is not an object.
 */
export function parseFunctionArguments(text: string): JsonObject {
  let v: JsonValue;
  try {
    v = parseJson(text);
  } catch (e) {
    if (e instanceof JsonSyntaxError)
      // The parser's own text (serde's, as Teaclave reports it).
      throw new CloisterError(ERRORS.ARGUMENTS_NOT_JSON.code, e.message, {
        kind: "ARGUMENTS_NOT_JSON",
        cause: e,
      });
    throw e;
  }
  if (!isJsonObject(v)) throw cloisterError("ARGUMENTS_NOT_OBJECT");
  return v;
}

/**
 * Apply the argument rule of the legacy contract: the request must name exactly the overwritable
 * declared arguments (else 3 `invalid task`); fixed arguments get their default as a JSON
 * string, overwritable ones keep the client's typed values.
 */
export function mergeFunctionArguments(
  decls: FunctionArgumentDecl[],
  requested: JsonObject,
): FunctionArguments {
  const overwritable = new Set(decls.filter((d) => d.allowOverwrite).map((d) => d.key));
  const given = new Set(requested.keys());
  if (given.size !== overwritable.size || ![...given].every((k) => overwritable.has(k)))
    throw cloisterError("INVALID_TASK");
  const merged: JsonObject = new Map();
  for (const d of decls)
    merged.set(d.key, d.allowOverwrite ? (requested.get(d.key) as JsonValue) : d.defaultValue);
  return sortArguments(merged);
}

/** Canonical text of the arguments (GetTask `function_arguments`). */
export const argumentsToJson = (args: FunctionArguments): string => canonicalJson(args);

/**
 * The flat `[k1, v1, k2, v2, …]` list handed to Python / WebAssembly functions:
 * strings as-is, everything else as canonical JSON text.
 */
export function argumentsToArgv(args: FunctionArguments): string[] {
  const out: string[] = [];
  for (const [k, v] of sortArguments(args)) out.push(k, typeof v === "string" ? v : canonicalJson(v));
  return out;
}
