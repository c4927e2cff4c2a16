import type { ExecutionRequest, FunctionArguments, JsonValue } from "./executor.js";

/**
 * Flattens a task's merged arguments into `[k1, v1, k2, v2, …]`:
 * keys in ascending UTF-8 byte order; a string value is passed raw, anything else as compact JSON
 * in the legacy (serde_json) style.
 *
 * Executors prefer `ExecutionRequest.argv`, which the execution node renders from the stored JSON
 * text; this is the fallback for callers that have only the parsed arguments.
 *
 * Caveat: a JavaScript number does not remember whether it was written `1` or `1.0`, so an
 * integral number always renders as an integer (`"1"`, where the legacy platform would print
 * `"1.0"` for a JSON float). Non-integral numbers render in shortest round-trip form, with the
 * exponent style of Rust's `ryu` (`1e30`, `1.5e-7`), which the spec marks as unsure.
 */
export function flattenArguments(args: FunctionArguments): string[] {
  const argv: string[] = [];
  for (const key of sortedKeys(args)) {
    const value = args[key] as JsonValue;
    argv.push(key, typeof value === "string" ? value : compactJson(value));
  }
  return argv;
}

/** Compact JSON with object keys in ascending UTF-8 byte order and legacy number rendering. */
export function compactJson(value: JsonValue): string {
  if (value === null) return "null";
  switch (typeof value) {
    case "string":
      // JSON.stringify escapes exactly what serde_json escapes for well-formed strings.
      return JSON.stringify(value);
    case "boolean":
      return value ? "true" : "false";
    case "number":
      return renderNumber(value);
    default:
      break;
  }
  if (Array.isArray(value)) return `[${value.map(compactJson).join(",")}]`;
  const obj = value as { [key: string]: JsonValue };
  return `{${sortedKeys(obj)
    .map((k) => `${JSON.stringify(k)}:${compactJson(obj[k] as JsonValue)}`)
    .join(",")}}`;
}

function sortedKeys(obj: object): string[] {
  // Legacy keeps keys in a byte-ordered map; UTF-16 order differs for astral vs U+E000–U+FFFF.
  return Object.keys(obj).sort((a, b) => Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8")));
}

const U64_LIMIT = 2 ** 64;

function renderNumber(n: number): string {
  // serde_json has no NaN/Infinity; JSON input cannot produce them, so reject programmer errors.
  if (!Number.isFinite(n)) throw new TypeError(`argument number is not finite: ${n}`);
  if (Number.isInteger(n) && Math.abs(n) < U64_LIMIT) {
    return Object.is(n, -0) ? "0" : BigInt(n).toString();
  }
  return ryuPretty(n);
}

/** Shortest round-trip digits laid out the way Rust's `ryu` pretty printer does. */
function ryuPretty(n: number): string {
  const sign = n < 0 ? "-" : "";
  const [mant, expText] = Math.abs(n).toExponential().split("e") as [string, string];
  const digits = mant.replace(".", "");
  const length = digits.length;
  // value = 0.digits × 10^kk, i.e. kk = position of the decimal point within `digits`.
  const kk = Number(expText) + 1;
  const k = kk - length;
  let body: string;
  if (k >= 0 && kk <= 16) body = `${digits}${"0".repeat(k)}.0`;
  else if (kk > 0 && kk <= 16) body = `${digits.slice(0, kk)}.${digits.slice(kk)}`;
  else if (kk > -5 && kk <= 0) body = `0.${"0".repeat(-kk)}${digits}`;
  else if (length === 1) body = `${digits}e${kk - 1}`;
  else body = `${digits[0]}.${digits.slice(1)}e${kk - 1}`;
  return sign + body;
}

/** The argv an executor hands its payload: the node's legacy-exact rendering when present. */
export function argvOf(request: Pick<ExecutionRequest, "argv" | "arguments">): string[] {
  return request.argv ?? flattenArguments(request.arguments);
}
