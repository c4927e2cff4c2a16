import { type FunctionArguments, type JsonValue, TaskFailure } from "@cloister/runtime";

/** The one failure text for any argument record that does not fit its schema (kept from the legacy platform). */
export const CANNOT_DESERIALIZE = "Cannot deserialize arguments";

/**
 * A typed field of an argument record. `decode` returns `NO_FIT` instead of throwing so that a
 * schema reports every mismatch with the same text, whatever the field.
 */
export interface Field<T> {
  readonly optional: boolean;
  /** The argument's JSON shape as users read it (`string`, `u32`, `bool`, …), for discovery. */
  readonly type: string;
  decode(value: JsonValue | undefined): T | typeof NO_FIT;
}

export const NO_FIT: unique symbol = Symbol("no fit");

function field<T>(type: string, decode: (v: JsonValue) => T | typeof NO_FIT): Field<T> {
  return {
    optional: false,
    type,
    decode: (v) => (v === undefined ? NO_FIT : decode(v)),
  };
}

/**
 * Unsigned integers: the legacy deserializer accepts only non-negative JSON integers within the
 * Rust type's range. (`10.0` is rejected there too, but a parsed JSON value no longer shows the
 * difference; see README.)
 */
function unsigned(type: string, max: number): Field<number> {
  return field(type, (v) =>
    typeof v === "number" && Number.isInteger(v) && v >= 0 && v <= max ? v : NO_FIT,
  );
}

export const t = {
  string: (): Field<string> => field("string", (v) => (typeof v === "string" ? v : NO_FIT)),
  bool: (): Field<boolean> => field("bool", (v) => (typeof v === "boolean" ? v : NO_FIT)),
  /** u8 */
  u8: (): Field<number> => unsigned("u8", 0xff),
  /** u32 */
  u32: (): Field<number> => unsigned("u32", 0xffff_ffff),
  /** usize / u64, limited to what a JavaScript number holds exactly. */
  uint: (): Field<number> => unsigned("u64", Number.MAX_SAFE_INTEGER),
  /** f64 (accepts JSON integers and floats). */
  f64: (): Field<number> => field("f64", (v) => (typeof v === "number" && Number.isFinite(v) ? v : NO_FIT)),
  /** f32: the JSON number rounded to single precision, as the legacy deserializer stores it. */
  f32: (): Field<number> =>
    field("f32", (v) => {
      if (typeof v !== "number") return NO_FIT;
      const f = Math.fround(v);
      return Number.isFinite(f) ? f : NO_FIT;
    }),
  /** Vec<u8>: an array of integers 0–255. */
  bytes: (): Field<Uint8Array> =>
    field("bytes (array of 0-255)", (v) => {
      if (!Array.isArray(v)) return NO_FIT;
      const out = new Uint8Array(v.length);
      for (let i = 0; i < v.length; i++) {
        const b = v[i];
        if (typeof b !== "number" || !Number.isInteger(b) || b < 0 || b > 255) return NO_FIT;
        out[i] = b;
      }
      return out;
    }),
  /** Option<T>: absent or `null` → undefined. */
  optional<T>(inner: Field<T>): Field<T | undefined> {
    return {
      optional: true,
      type: inner.type,
      decode: (v) => (v === undefined || v === null ? undefined : inner.decode(v)),
    };
  },
};

export type Schema = Record<string, Field<unknown>>;
export type ArgsOf<S extends Schema> = { [K in keyof S]: S[K] extends Field<infer T> ? T : never };

/**
 * Deserialises a task's merged arguments into the record a builtin declares. Unknown keys are
 * ignored; a missing or mistyped key fails the task with the legacy text.
 */
export function parseArgs<S extends Schema>(schema: S, args: FunctionArguments): ArgsOf<S> {
  const out: Record<string, unknown> = {};
  for (const [key, f] of Object.entries(schema)) {
    const raw = Object.hasOwn(args, key) ? args[key] : undefined;
    const value = f.decode(raw);
    if (value === NO_FIT) throw new TaskFailure(CANNOT_DESERIALIZE);
    out[key] = value;
  }
  return out as ArgsOf<S>;
}
