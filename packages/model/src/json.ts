import { byteFormat } from "./byte-format.js";

/**
 * A JSON model that behaves like the legacy serde_json one, because task arguments written by a
 * client are stored, re-serialised and flattened, and clients and executors observe the text:
 *  - objects are `Map`s, so key order is under our control (JS objects reorder integer-like keys);
 *  - numbers keep the integer/float distinction of the source text (`1.0` stays a float and is
 *    written back as `1.0`, `1` stays `1`);
 *  - parse errors carry serde_json-style texts (`expected value at line 1 column 1`).
 */

export type JsonObject = Map<string, JsonValue>;
export type JsonValue = null | boolean | number | string | JsonNumber | JsonValue[] | JsonObject;

/** A number as parsed: `kind` records whether serde_json would hold it as an integer or a float. */
export class JsonNumber {
  constructor(
    readonly kind: "int" | "float",
    /** The canonical text (integers in decimal, floats in shortest round-trip form). */
    readonly text: string,
  ) {}
  get value(): number {
    return Number(this.text);
  }
  static int(n: bigint | number): JsonNumber {
    return new JsonNumber("int", BigInt(n).toString());
  }
  static float(x: number): JsonNumber {
    return new JsonNumber("float", formatFloat(x));
  }
}

export class JsonSyntaxError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "JsonSyntaxError";
  }
}

const U64_MAX = (1n << 64n) - 1n;
const SMALL_INTS = Array.from({ length: 256 }, (_, n) => new JsonNumber("int", String(n)));
const I64_MIN = -(1n << 63n);
const MAX_DEPTH = 128;
/** Strings up to this many bytes are scanned byte by byte (see JsonCursor.string). */
const SHORT_STRING = 64;
// An escape or a control character: the byte loop handles (or refuses) those.
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are exactly what it looks for
const NEEDS_SLOW_PATH = /[\\\u0000-\u001f]/;

/** Parse JSON text. Errors have serde_json's wording and line/column convention. */
export function parseJson(text: string): JsonValue {
  return parseJsonBytes(Buffer.from(text, "utf8"));
}

/** As parseJson, from UTF-8 bytes (a stored value) without a round trip through a JS string. */
export function parseJsonBytes(bytes: Buffer): JsonValue {
  const p = new JsonCursor(bytes);
  p.skipWs();
  const v = p.value(0);
  p.skipWs();
  if (p.i < bytes.length) throw p.err("trailing characters", p.i);
  return v;
}

/**
 * The parser's cursor over UTF-8 bytes. Exported for the record readers (records/direct-read.ts),
 * which walk a stored record's known shape with the same string and number rules; not part of
 * the package's index.
 */
export class JsonCursor {
  i = 0;
  constructor(readonly b: Buffer) {}

  err(msg: string, at: number): JsonSyntaxError {
    // serde reports the 1-based column of the offending byte, or of the last byte at EOF.
    const upto = Math.min(at + 1, this.b.length);
    let line = 1;
    let col = 0;
    for (let k = 0; k < upto; k++) {
      if (this.b[k] === 0x0a) {
        line++;
        col = 0;
      } else col++;
    }
    return new JsonSyntaxError(`${msg} at line ${line} column ${col}`);
  }

  skipWs(): void {
    while (this.i < this.b.length) {
      const c = this.b[this.i];
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) this.i++;
      else break;
    }
  }

  value(depth: number): JsonValue {
    if (depth > MAX_DEPTH) throw this.err("recursion limit exceeded", this.i);
    const c = this.b[this.i];
    if (c === undefined) throw this.err("EOF while parsing a value", this.i);
    switch (c) {
      case 0x6e: // n
        return this.ident("null", null);
      case 0x74: // t
        return this.ident("true", true);
      case 0x66: // f
        return this.ident("false", false);
      case 0x22: // "
        this.i++;
        return this.string();
      case 0x5b: // [
        this.i++;
        return this.array(depth + 1);
      case 0x7b: // {
        this.i++;
        return this.object(depth + 1);
      default:
        if (c === 0x2d || (c >= 0x30 && c <= 0x39)) return this.number();
        throw this.err("expected value", this.i);
    }
  }

  ident<T>(word: string, v: T): T {
    for (let k = 0; k < word.length; k++) {
      const c = this.b[this.i];
      if (c === undefined) throw this.err("EOF while parsing a value", this.i);
      if (c !== word.charCodeAt(k)) throw this.err(k === 0 ? "expected value" : "expected ident", this.i);
      this.i++;
    }
    return v;
  }

  number(): JsonNumber {
    const start = this.i;
    // Fast path for the byte arrays of stored records (payloads are megabytes of them): a 1–3
    // digit integer 0–255 is a shared, immutable JsonNumber, without BigInt or text allocation.
    const d0 = this.b[start] as number;
    if (d0 >= 0x30 && d0 <= 0x39) {
      let end = start + 1;
      let n = d0 - 0x30;
      while (end < start + 3 && n !== 0) {
        const c = this.b[end];
        if (c === undefined || c < 0x30 || c > 0x39) break;
        n = n * 10 + (c - 0x30);
        end++;
      }
      const next = this.b[end];
      const continues =
        next !== undefined &&
        ((next >= 0x30 && next <= 0x39) || next === 0x2e || next === 0x65 || next === 0x45);
      if (!continues && n <= 255 && !(d0 === 0x30 && end > start + 1)) {
        this.i = end;
        return SMALL_INTS[n] as JsonNumber;
      }
    }
    const neg = this.b[this.i] === 0x2d;
    if (neg) this.i++;
    const digit = (c: number | undefined) => c !== undefined && c >= 0x30 && c <= 0x39;
    if (!digit(this.b[this.i])) {
      if (this.i >= this.b.length) throw this.err("EOF while parsing a value", this.i);
      throw this.err("invalid number", this.i);
    }
    if (this.b[this.i] === 0x30) {
      this.i++;
      if (digit(this.b[this.i])) throw this.err("invalid number", this.i);
    } else while (digit(this.b[this.i])) this.i++;
    let isFloat = false;
    if (this.b[this.i] === 0x2e) {
      isFloat = true;
      this.i++;
      if (!digit(this.b[this.i])) {
        if (this.i >= this.b.length) throw this.err("EOF while parsing a value", this.i);
        throw this.err("invalid number", this.i);
      }
      while (digit(this.b[this.i])) this.i++;
    }
    const e = this.b[this.i];
    if (e === 0x65 || e === 0x45) {
      isFloat = true;
      this.i++;
      if (this.b[this.i] === 0x2b || this.b[this.i] === 0x2d) this.i++;
      if (!digit(this.b[this.i])) {
        if (this.i >= this.b.length) throw this.err("EOF while parsing a value", this.i);
        throw this.err("invalid number", this.i);
      }
      while (digit(this.b[this.i])) this.i++;
    }
    const text = this.b.toString("latin1", start, this.i);
    if (!isFloat) {
      const n = BigInt(text);
      // serde keeps integers that fit u64 (positive) / i64 (negative); `-0` and out-of-range
      // values become floats.
      if (!neg && n <= U64_MAX) return new JsonNumber("int", n.toString());
      if (neg && n < 0n && n >= I64_MIN) return new JsonNumber("int", n.toString());
    }
    const x = Number(text);
    if (!Number.isFinite(x)) throw this.err("number out of range", this.i - 1);
    return JsonNumber.float(x);
  }

  string(): string {
    // Short plain ASCII strings (keys, ids, names: most strings of a record) are read in place:
    // a native search and a regex test cost more than the few bytes they would save looking at.
    const b = this.b;
    const stop = Math.min(b.length, this.i + SHORT_STRING);
    for (let j = this.i; j < stop; j++) {
      const c = b[j] as number;
      if (c === 0x22) {
        const run = b.toString("latin1", this.i, j);
        this.i = j + 1;
        return run;
      }
      if (c === 0x5c || c < 0x20 || c >= 0x80) break;
    }
    // Fast path for strings without escapes (base64 bytes of stored records are megabytes long):
    // find the closing quote natively and check the run for escapes and control characters.
    const end = this.b.indexOf(0x22, this.i);
    if (end >= 0) {
      const run = this.b.toString("utf8", this.i, end);
      if (!NEEDS_SLOW_PATH.test(run)) {
        this.i = end + 1;
        return run;
      }
    }
    const parts: string[] = [];
    let runStart = this.i;
    for (;;) {
      const c = this.b[this.i];
      if (c === undefined) throw this.err("EOF while parsing a string", this.i);
      if (c === 0x22) {
        parts.push(this.b.toString("utf8", runStart, this.i));
        this.i++;
        return parts.join("");
      }
      if (c < 0x20)
        throw this.err("control character (\\u0000-\\u001F) found while parsing a string", this.i);
      if (c !== 0x5c) {
        this.i++;
        continue;
      }
      parts.push(this.b.toString("utf8", runStart, this.i));
      this.i++;
      const esc = this.b[this.i];
      if (esc === undefined) throw this.err("EOF while parsing a string", this.i);
      this.i++;
      switch (esc) {
        case 0x22:
          parts.push('"');
          break;
        case 0x5c:
          parts.push("\\");
          break;
        case 0x2f:
          parts.push("/");
          break;
        case 0x62:
          parts.push("\b");
          break;
        case 0x66:
          parts.push("\f");
          break;
        case 0x6e:
          parts.push("\n");
          break;
        case 0x72:
          parts.push("\r");
          break;
        case 0x74:
          parts.push("\t");
          break;
        case 0x75: {
          const hi = this.hex4();
          if (hi >= 0xd800 && hi <= 0xdbff) {
            if (this.b[this.i] !== 0x5c || this.b[this.i + 1] !== 0x75)
              throw this.err("lone leading surrogate in hex escape", this.i - 1);
            this.i += 2;
            const lo = this.hex4();
            if (lo < 0xdc00 || lo > 0xdfff)
              throw this.err("lone leading surrogate in hex escape", this.i - 1);
            parts.push(String.fromCharCode(hi, lo));
          } else if (hi >= 0xdc00 && hi <= 0xdfff) {
            throw this.err("invalid unicode code point", this.i - 1);
          } else parts.push(String.fromCharCode(hi));
          break;
        }
        default:
          throw this.err("invalid escape", this.i - 1);
      }
      runStart = this.i;
    }
  }

  hex4(): number {
    let v = 0;
    for (let k = 0; k < 4; k++) {
      const c = this.b[this.i];
      if (c === undefined) throw this.err("EOF while parsing a string", this.i);
      const d = Number.parseInt(String.fromCharCode(c), 16);
      if (Number.isNaN(d)) throw this.err("invalid escape", this.i);
      v = v * 16 + d;
      this.i++;
    }
    return v;
  }

  array(depth: number): JsonValue[] {
    const out: JsonValue[] = [];
    this.skipWs();
    if (this.b[this.i] === 0x5d) {
      this.i++;
      return out;
    }
    for (;;) {
      this.skipWs();
      if (this.i >= this.b.length) throw this.err("EOF while parsing a list", this.i);
      out.push(this.value(depth));
      this.skipWs();
      const c = this.b[this.i];
      if (c === undefined) throw this.err("EOF while parsing a list", this.i);
      this.i++;
      if (c === 0x5d) return out;
      if (c !== 0x2c) throw this.err("expected `,` or `]`", this.i - 1);
      this.skipWs();
      if (this.b[this.i] === 0x5d) throw this.err("trailing comma", this.i);
    }
  }

  object(depth: number): JsonObject {
    const out: JsonObject = new Map();
    this.skipWs();
    if (this.b[this.i] === 0x7d) {
      this.i++;
      return out;
    }
    for (;;) {
      this.skipWs();
      const q = this.b[this.i];
      if (q === undefined) throw this.err("EOF while parsing an object", this.i);
      if (q !== 0x22) throw this.err("key must be a string", this.i);
      this.i++;
      const key = this.string();
      this.skipWs();
      const colon = this.b[this.i];
      if (colon === undefined) throw this.err("EOF while parsing an object", this.i);
      if (colon !== 0x3a) throw this.err("expected `:`", this.i);
      this.i++;
      this.skipWs();
      // Duplicate keys: the last one wins, as with serde_json's map.
      out.set(key, this.value(depth));
      this.skipWs();
      const c = this.b[this.i];
      if (c === undefined) throw this.err("EOF while parsing an object", this.i);
      this.i++;
      if (c === 0x7d) return out;
      if (c !== 0x2c) throw this.err("expected `,` or `}`", this.i - 1);
      this.skipWs();
      if (this.b[this.i] === 0x7d) throw this.err("trailing comma", this.i);
    }
  }
}

/**
 * A float in the legacy serialiser's "pretty" form: shortest round-trip digits, a `.0` suffix
 * when integral, scientific notation outside 1e-5 ≤ |x| < 1e16.
 */
export function formatFloat(x: number): string {
  if (!Number.isFinite(x)) return "null";
  if (x === 0) return Object.is(x, -0) ? "-0.0" : "0.0";
  const sign = x < 0 ? "-" : "";
  const [mant = "", expPart = "0"] = Math.abs(x).toExponential().split("e");
  const digits = mant.replace(".", "");
  const len = digits.length;
  const kk = Number(expPart) + 1; // position of the decimal point relative to the digits
  const k = kk - len;
  let body: string;
  if (k >= 0 && kk <= 16) body = `${digits}${"0".repeat(k)}.0`;
  else if (kk > 0 && kk <= 16) body = `${digits.slice(0, kk)}.${digits.slice(kk)}`;
  else if (kk > -5 && kk <= 0) body = `0.${"0".repeat(-kk)}${digits}`;
  else if (len === 1) body = `${digits}e${kk - 1}`;
  else body = `${digits[0]}.${digits.slice(1)}e${kk - 1}`;
  return sign + body;
}

/** A JS number as the writer spells it (integers plain, anything else a legacy float). */
export function writeNumber(n: number): string {
  if (Number.isInteger(n) && Math.abs(n) <= Number.MAX_SAFE_INTEGER && !Object.is(n, -0)) return String(n);
  return formatFloat(n);
}

/** Byte-order comparison of two strings' UTF-8 encodings (legacy ordered maps sort this way). */
export function compareBytes(a: string, b: string): number {
  // Without encoding: outside the surrogates, UTF-8 byte order is UTF-16 code unit order. Where
  // the first difference is a surrogate (a character above U+FFFF, or a lone one, which UTF-8
  // writes as U+FFFD), the encodings decide.
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    if ((x & 0xf800) === 0xd800 || (y & 0xf800) === 0xd800)
      return Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));
    return x < y ? -1 : 1;
  }
  if (a.length === b.length) return 0;
  // One is a prefix of the other: a surrogate right after the common part may change what the
  // shared last character encodes to (paired or lone), so let the encodings decide then too.
  const next = a.length > n ? a.charCodeAt(n) : b.charCodeAt(n);
  if ((next & 0xf800) === 0xd800) return Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));
  return a.length < b.length ? -1 : 1;
}

/**
 * Compact JSON text. Object keys are written in insertion order, or sorted by byte order when
 * `sortKeys` is set (the canonical form of task arguments).
 */
export function stringifyJson(v: JsonValue, sortKeys = false): string {
  if (v === null) return "null";
  if (typeof v === "boolean") return v ? "true" : "false";
  if (typeof v === "number") return writeNumber(v);
  if (typeof v === "string") return JSON.stringify(v);
  if (v instanceof JsonNumber) return v.text;
  if (Array.isArray(v)) {
    if (v.length === 0) return "[]";
    // Byte arrays (megabytes in a payload): Array#join writes small integers as writeNumber does.
    if (
      v.every((x) => typeof x === "number" && x >= 0 && x <= 255 && Number.isInteger(x) && !Object.is(x, -0))
    )
      return `[${v.join(",")}]`;
    let out = `[${stringifyJson(v[0] as JsonValue, sortKeys)}`;
    for (let i = 1; i < v.length; i++) out += `,${stringifyJson(v[i] as JsonValue, sortKeys)}`;
    return `${out}]`;
  }
  if (v.size === 0) return "{}";
  let out = "{";
  for (const [k, x] of sortKeys && v.size > 1 ? sortedByKey(v) : v) {
    if (out.length > 1) out += ",";
    out += `${JSON.stringify(k)}:${stringifyJson(x, sortKeys)}`;
  }
  return `${out}}`;
}

const sortedByKey = (m: JsonObject): Array<[string, JsonValue]> =>
  [...m.entries()].sort((a, b) => compareBytes(a[0], b[0]));

/** A deep copy whose objects all have their keys in ascending byte order. */
export function canonicalize(v: JsonValue): JsonValue {
  if (Array.isArray(v)) return v.map(canonicalize);
  if (v instanceof Map) {
    const out: JsonObject = new Map();
    for (const [k, x] of v.size > 1 ? sortedByKey(v) : v) out.set(k, canonicalize(x));
    return out;
  }
  return v;
}

/** Canonical JSON: compact, every object's keys in ascending byte order. */
export function canonicalJson(v: JsonValue): string {
  return stringifyJson(v, true);
}

/** Convert to plain JS values (objects, numbers) for code that does not care about number kinds. */
export function toPlain(v: JsonValue): unknown {
  if (v instanceof JsonNumber) return v.value;
  if (Array.isArray(v)) return v.map(toPlain);
  if (v instanceof Map) {
    const o: Record<string, unknown> = {};
    for (const [k, x] of v)
      Object.defineProperty(o, k, { value: toPlain(x), enumerable: true, writable: true });
    return o;
  }
  return v;
}

/** Build an ordered object from entries (helper for writing records in a fixed key order). */
export function obj(entries: Array<[string, JsonValue]>): JsonObject {
  return new Map(entries);
}

export const isJsonObject = (v: JsonValue | undefined): v is JsonObject => v instanceof Map;

/** Bytes in the form the record being written uses: legacy number array, or base64 (`withByteFormat`). */
export const bytesToJson = (b: Uint8Array): JsonValue =>
  byteFormat() === "base64"
    ? Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("base64")
    : Array.from(b);
