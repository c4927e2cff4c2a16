import { type ByteFormat, withByteFormat } from "../byte-format.js";
import {
  isJsonObject,
  JsonSyntaxError,
  type JsonValue,
  parseJson,
  parseJsonBytes,
  stringifyJson,
} from "../json.js";
import { RecordFormatError } from "../read.js";
import { type RecordReader, readDirect } from "../record-reader.js";

/**
 * Versions of the stored JSON records:
 * - 1: the legacy form (Teaclave's serde JSON): byte fields are arrays of numbers;
 * - 2: the same object with `"v":2` as its first key and every byte field a canonical base64
 *   string (about 1.33 characters per byte instead of up to 4, and one native decode instead of
 *   one parsed number per byte).
 * New writes use version 2; version 1 still reads, and is what the legacy wire edges get.
 */
export type CodecVersion = 1 | 2;
export const CURRENT_CODEC_VERSION: CodecVersion = 2;

export interface RecordCodec<T> {
  encode(record: T, version?: CodecVersion): Buffer;
  /** Either version; anything else is a RecordFormatError. */
  decode(raw: Buffer | string): T;
}

const formatOf = (v: CodecVersion): ByteFormat => (v === 1 ? "numbers" : "base64");

/** The version a stored JSON record was written with. */
export function codecVersionOf(o: Map<string, JsonValue>): CodecVersion {
  const v = o.get("v");
  if (v === undefined) return 1;
  // JSON numbers parse as JsonNumber; compare the text.
  if (typeof v === "object" && v !== null && "text" in v && v.text === "2") return 2;
  throw new RecordFormatError("v: unknown record codec version");
}

/** Text of a JSON record in `version`. */
export function encodeJsonRecord<T>(
  toJson: (r: T) => JsonValue,
  record: T,
  version: CodecVersion = CURRENT_CODEC_VERSION,
): string {
  return withByteFormat(formatOf(version), () => {
    const json = toJson(record);
    if (version === 1) return stringifyJson(json);
    if (!isJsonObject(json)) throw new RecordFormatError("only objects carry a codec version");
    if (json.has("v")) return stringifyJson(new Map<string, JsonValue>([["v", 2], ...json]));
    // `"v":2` first, without copying the record's map for it.
    return json.size === 0 ? '{"v":2}' : `{"v":2,${stringifyJson(json).slice(1)}`;
  });
}

/** A record of either version from its JSON text. */
export function decodeJsonRecord<T>(fromJson: (v: JsonValue) => T, raw: Buffer | string, what: string): T {
  let json: JsonValue;
  try {
    json = typeof raw === "string" ? parseJson(raw) : parseJsonBytes(raw);
  } catch (e) {
    // Not JSON at all is damage like any other: one error type for "this record does not decode".
    if (e instanceof JsonSyntaxError) throw new RecordFormatError(`${what}: ${e.message}`);
    throw e;
  }
  if (!isJsonObject(json)) throw new RecordFormatError(`${what}: expected an object`);
  return withByteFormat(formatOf(codecVersionOf(json)), () => fromJson(json));
}

export function jsonCodec<T>(
  what: string,
  toJson: (r: T) => JsonValue,
  fromJson: (v: JsonValue) => T,
): RecordCodec<T> {
  return {
    encode: (record, version) => Buffer.from(encodeJsonRecord(toJson, record, version), "utf8"),
    decode: (raw) => decodeJsonRecord(fromJson, raw, what),
  };
}

/**
 * A JSON record written straight from its typed form (`text`, no JsonValue tree) and, for version
 * 2 records in the writer's exact shape, read straight into it (`read`: the fields after `"v":2,`);
 * any other text (version 1, another key order, damage) is decoded through the tree as before.
 * Both give the bytes and records the tree codec gives (`tree`, kept for that comparison and for
 * every text the direct reader does not know): the model's tests check it over every record
 * shape.
 */
export function directCodec<T>(
  what: string,
  spec: {
    toJson: (r: T) => JsonValue;
    fromJson: (v: JsonValue) => T;
    /** The record's text in a codec version (`base64` for version 2). */
    text: (r: T, base64: boolean) => string;
    read?: (r: RecordReader) => T;
  },
): RecordCodec<T> & { readonly tree: RecordCodec<T> } {
  const { fromJson, text, read } = spec;
  return {
    encode: (record, version = CURRENT_CODEC_VERSION) => Buffer.from(text(record, version === 2), "utf8"),
    decode: read
      ? (raw) => readDirect(raw, read) ?? decodeJsonRecord(fromJson, raw, what)
      : (raw) => decodeJsonRecord(fromJson, raw, what),
    tree: jsonCodec(what, spec.toJson, fromJson),
  };
}

/**
 * JSON records without a codec version (Cloister's own, written by `JSON.stringify`): `check`
 * turns the parsed value into a record or throws RecordFormatError; text that is not JSON is one.
 */
export function plainJsonCodec<T>(what: string, check: (parsed: unknown) => T): RecordCodec<T> {
  return {
    encode: (record) => Buffer.from(JSON.stringify(record), "utf8"),
    decode(raw) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(typeof raw === "string" ? raw : raw.toString("utf8"));
      } catch {
        throw new RecordFormatError(`${what}: not JSON`);
      }
      return check(parsed);
    },
  };
}
