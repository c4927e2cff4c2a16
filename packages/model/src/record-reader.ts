import { isJsonObject, JsonCursor, type JsonObject, type JsonValue } from "./json.js";

/**
 * Thrown inside a direct read when the text is not in the exact shape the reader knows; a value,
 * not an Error, so leaving the fast path costs no stack trace. It never escapes `readDirect`.
 */
const OFF_SHAPE: unknown = Object.freeze({ offShape: true });

const V2_HEAD = Buffer.from('{"v":2,', "latin1");

/**
 * Reads a version 2 record straight into its typed form, walking the exact key order the record
 * writers produce. Anything else (another order, an unknown or repeated field, a version 1 record,
 * damage of any kind) leaves the fast path, and the record is decoded through the JsonValue tree
 * as before, which accepts or refuses it with its own errors: the direct reader only ever
 * answers where the tree decoder would give the same record.
 */
export class RecordReader extends JsonCursor {
  off(): never {
    throw OFF_SHAPE;
  }

  private expect(c: number): void {
    this.skipWs();
    if (this.b[this.i] !== c) this.off();
    this.i++;
  }

  /** The next significant byte (not consumed). */
  peek(): number | undefined {
    this.skipWs();
    return this.b[this.i];
  }

  open(): void {
    this.expect(0x7b);
  }

  close(): void {
    this.expect(0x7d);
  }

  comma(): void {
    this.expect(0x2c);
  }

  /** `"name":` (a name without escapes). */
  key(name: KeyBytes): void {
    if (!this.nextKeyIs(name)) this.off();
  }

  /** `,"name":` */
  next(name: KeyBytes): void {
    this.comma();
    this.key(name);
  }

  /** Whether the next key is `name`; consumes it (and its colon) when it is. */
  nextKeyIs(name: KeyBytes): boolean {
    this.skipWs();
    const k = name.bytes;
    const at = this.i;
    for (let j = 0; j < k.length; j++) if (this.b[at + j] !== k[j]) return false;
    this.i = at + k.length;
    this.expect(0x3a);
    return true;
  }

  /** Whether a comma and the key `name` come next; consumes both when they do. */
  nextIs(name: KeyBytes): boolean {
    const at = this.i;
    if (this.peek() === 0x2c) {
      this.i++;
      if (this.nextKeyIs(name)) return true;
    }
    this.i = at;
    return false;
  }

  str(): string {
    this.expect(0x22);
    return this.string();
  }

  bool(): boolean {
    const c = this.peek();
    if (c === 0x74) return this.ident("true", true);
    if (c === 0x66) return this.ident("false", false);
    return this.off();
  }

  /** `null` if it is next (consumed), else false. */
  isNull(): boolean {
    if (this.peek() !== 0x6e) return false;
    this.ident("null", null);
    return true;
  }

  /** An integer as the tree decoder's `intValue` reads it (a float is off the fast path). */
  integer(): number {
    this.skipWs();
    const n = this.number();
    return n.kind === "int" ? n.value : this.off();
  }

  /** A version 2 byte field: canonical base64 only (as the tree decoder's `bytes`). */
  bytes(): Buffer {
    const s = this.str();
    const b = Buffer.from(s, "base64");
    if (b.toString("base64") !== s) this.off();
    return b;
  }

  strings(): string[] {
    this.expect(0x5b);
    const out: string[] = [];
    if (this.peek() === 0x5d) {
      this.i++;
      return out;
    }
    for (;;) {
      out.push(this.str());
      const c = this.peek();
      this.i++;
      if (c === 0x5d) return out;
      if (c !== 0x2c) this.off();
    }
  }

  /** `[…]` of objects read by `item`. */
  list<T>(item: () => T): T[] {
    this.expect(0x5b);
    const out: T[] = [];
    if (this.peek() === 0x5d) {
      this.i++;
      return out;
    }
    for (;;) {
      out.push(item());
      const c = this.peek();
      this.i++;
      if (c === 0x5d) return out;
      if (c !== 0x2c) this.off();
    }
  }

  /** An object of arbitrary keys, in text order; `entry` reads each value. */
  entries(entry: (key: string) => void): void {
    this.open();
    if (this.peek() === 0x7d) {
      this.i++;
      return;
    }
    for (;;) {
      const k = this.str();
      this.expect(0x3a);
      entry(k);
      const c = this.peek();
      this.i++;
      if (c === 0x7d) return;
      if (c !== 0x2c) this.off();
    }
  }

  /** `{"inner":{…}}` */
  inner(entry: (key: string) => void): void {
    this.open();
    this.key(K.inner);
    this.entries(entry);
    this.close();
  }

  /** `{"uids":[…]}` */
  uids(): string[] {
    this.open();
    this.key(K.uids);
    const out = this.strings();
    this.close();
    return out;
  }

  /**
   * Any JSON object through the tree parser (task arguments are arbitrary client JSON). `depth`
   * is the object's nesting in the record, so the recursion limit falls where the tree decoder's
   * does.
   */
  anyObject(depth: number): JsonObject {
    this.skipWs();
    const v: JsonValue = this.value(depth);
    return isJsonObject(v) ? v : this.off();
  }
}

/** A key's quoted spelling, as bytes to compare against. */
export interface KeyBytes {
  readonly bytes: Buffer;
}

export const keyBytes = (name: string): KeyBytes => ({ bytes: Buffer.from(JSON.stringify(name), "utf8") });

/** Keys shared by several records. */
export const K = {
  inner: keyBytes("inner"),
  uids: keyBytes("uids"),
  tag: keyBytes("tag"),
  key: keyBytes("key"),
  iv: keyBytes("iv"),
};

/**
 * `read` over a version 2 record; undefined when the text is not one in the reader's exact shape
 * (the caller then decodes through the JsonValue tree). Any failure inside leaves the fast path,
 * so the tree decoder's answer, and its errors, are the only ones a caller ever sees.
 */
export function readDirect<T>(raw: Buffer | string, read: (r: RecordReader) => T): T | undefined {
  const b = typeof raw === "string" ? Buffer.from(raw, "utf8") : raw;
  if (b.length < V2_HEAD.length || V2_HEAD.compare(b, 0, V2_HEAD.length) !== 0) return undefined;
  const r = new RecordReader(b);
  r.i = V2_HEAD.length;
  try {
    const out = read(r);
    r.close();
    r.skipWs();
    return r.i === b.length ? out : undefined;
  } catch {
    return undefined;
  }
}
