import { byteFormat } from "./byte-format.js";
import { isJsonObject, JsonNumber, type JsonObject, type JsonValue } from "./json.js";

/** A stored record that does not have the expected legacy shape. */
export class RecordFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RecordFormatError";
  }
}

const fail = (what: string): never => {
  throw new RecordFormatError(what);
};

export function asObject(v: JsonValue | undefined, what: string): JsonObject {
  return isJsonObject(v) ? v : fail(`${what}: expected an object`);
}

export function field(o: JsonObject, key: string): JsonValue | undefined {
  return o.get(key);
}

export function str(o: JsonObject, key: string): string {
  const v = o.get(key);
  return typeof v === "string" ? v : fail(`${key}: expected a string`);
}

export function bool(o: JsonObject, key: string): boolean {
  const v = o.get(key);
  return typeof v === "boolean" ? v : fail(`${key}: expected a boolean`);
}

export function intValue(v: JsonValue | undefined, what: string): number {
  if (typeof v === "number" && Number.isInteger(v)) return v;
  if (v instanceof JsonNumber && v.kind === "int") return v.value;
  return fail(`${what}: expected an integer`);
}

export function arr(o: JsonObject, key: string): JsonValue[] {
  const v = o.get(key);
  return Array.isArray(v) ? v : fail(`${key}: expected an array`);
}

export function strings(v: JsonValue | undefined, what: string): string[] {
  if (!Array.isArray(v)) return fail(`${what}: expected an array`);
  return v.map((x) => (typeof x === "string" ? x : fail(`${what}: expected strings`)));
}

/** A byte field in the form of the record being read (`withByteFormat`); the other form is refused. */
export function bytes(v: JsonValue | undefined, what: string): Buffer {
  if (byteFormat() === "base64") {
    if (typeof v !== "string") return fail(`${what}: expected base64 bytes`);
    const b = Buffer.from(v, "base64");
    // Only the canonical spelling (Node's decoder skips stray characters): one value, one text.
    return b.toString("base64") === v ? b : fail(`${what}: expected base64 bytes`);
  }
  if (!Array.isArray(v)) return fail(`${what}: expected a byte array`);
  return Buffer.from(
    v.map((x) => {
      const n = intValue(x, what);
      return n >= 0 && n <= 255 ? n : fail(`${what}: byte out of range`);
    }),
  );
}
