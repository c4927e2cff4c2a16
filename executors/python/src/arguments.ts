import type { FunctionArguments, JsonValue } from "@cloister/runtime";

/**
 * Flattens task arguments into the `argv` a payload receives (spec/executors-and-files.md §2.3):
 * `[k1, v1, k2, v2, …]` in ascending byte order of the keys; string values as they are, other
 * values as compact JSON with sorted object keys.
 *
 * A JavaScript number cannot remember whether it was written `1` or `1.0`, so integral floats
 * render as `1`; the legacy rendering keeps `1.0`. The execution service therefore passes
 * `ExecutionRequest.argv`, rendered from the stored JSON text, and executors prefer it.
 */
export function flattenArguments(args: FunctionArguments): string[] {
  const out: string[] = [];
  for (const key of Object.keys(args).sort(compareBytes)) {
    const value = args[key] as JsonValue;
    out.push(key, typeof value === "string" ? value : compactJson(value));
  }
  return out;
}

function compactJson(value: JsonValue): string {
  if (Array.isArray(value)) return `[${value.map(compactJson).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const keys = Object.keys(value).sort(compareBytes);
    return `{${keys.map((k) => `${JSON.stringify(k)}:${compactJson(value[k] as JsonValue)}`).join(",")}}`;
  }
  if (typeof value === "number" && !Number.isFinite(value)) return "null";
  return JSON.stringify(value);
}

/** Ordering of UTF-8 byte strings (the legacy ordered map), not UTF-16 code units. */
function compareBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));
}
