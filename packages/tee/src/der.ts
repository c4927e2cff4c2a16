// A minimal DER writer and a strict DER reader. The attested certificate must have an exact,
// positional layout, which general-purpose X.509 libraries do not let us
// control, and the verifier must reject anything that is not canonical DER.

export const Tag = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  UTF8_STRING: 0x0c,
  PRINTABLE_STRING: 0x13,
  IA5_STRING: 0x16,
  UTC_TIME: 0x17,
  GENERALIZED_TIME: 0x18,
  SEQUENCE: 0x30,
  SET: 0x31,
} as const;

/** Context-specific constructed tag `[n]` (EXPLICIT). */
export const ctx = (n: number): number => 0xa0 | n;

export class DerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DerError";
  }
}

// ---------------------------------------------------------------------------------------------
// Writer

function encodeLength(len: number): Buffer {
  if (len < 0x80) return Buffer.from([len]);
  const bytes: number[] = [];
  for (let n = len; n > 0; n = Math.floor(n / 256)) bytes.unshift(n & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

export function tlv(tag: number, content: Buffer | Uint8Array): Buffer {
  return Buffer.concat([Buffer.from([tag]), encodeLength(content.length), content]);
}

export const seq = (...items: Buffer[]): Buffer => tlv(Tag.SEQUENCE, Buffer.concat(items));
export const set = (...items: Buffer[]): Buffer => tlv(Tag.SET, Buffer.concat(items));
export const explicit = (n: number, inner: Buffer): Buffer => tlv(ctx(n), inner);
export const octetString = (b: Buffer | Uint8Array): Buffer => tlv(Tag.OCTET_STRING, b);
export const utf8String = (s: string): Buffer => tlv(Tag.UTF8_STRING, Buffer.from(s, "utf8"));
export const derNull = (): Buffer => Buffer.from([Tag.NULL, 0]);
export const boolean = (v: boolean): Buffer => Buffer.from([Tag.BOOLEAN, 1, v ? 0xff : 0x00]);

/** BIT STRING with zero unused bits. */
export const bitString = (b: Buffer | Uint8Array): Buffer =>
  tlv(Tag.BIT_STRING, Buffer.concat([Buffer.from([0]), b]));

/** INTEGER from a non-negative number or an unsigned big-endian magnitude. */
export function integer(value: number | Buffer): Buffer {
  let mag: Buffer;
  if (typeof value === "number") {
    if (!Number.isSafeInteger(value) || value < 0)
      throw new DerError("integer must be a non-negative safe integer");
    const bytes: number[] = [];
    for (let n = value; n > 0; n = Math.floor(n / 256)) bytes.unshift(n & 0xff);
    mag = Buffer.from(bytes.length ? bytes : [0]);
  } else {
    let i = 0;
    while (i < value.length - 1 && value[i] === 0) i++;
    mag = value.subarray(i);
    if (mag.length === 0) mag = Buffer.from([0]);
  }
  if ((mag[0]! & 0x80) !== 0) mag = Buffer.concat([Buffer.from([0]), mag]);
  return tlv(Tag.INTEGER, mag);
}

export function oid(dotted: string): Buffer {
  const parts = dotted.split(".").map((p) => {
    if (!/^\d+$/.test(p)) throw new DerError(`bad OID ${dotted}`);
    return Number(p);
  });
  if (parts.length < 2 || parts[0]! > 2) throw new DerError(`bad OID ${dotted}`);
  const out: number[] = [];
  const arcs = [parts[0]! * 40 + parts[1]!, ...parts.slice(2)];
  for (const arc of arcs) {
    const groups: number[] = [];
    let n = arc;
    do {
      groups.unshift(n & 0x7f);
      n = Math.floor(n / 128);
    } while (n > 0);
    for (let i = 0; i < groups.length - 1; i++) groups[i]! |= 0x80;
    out.push(...groups);
  }
  return tlv(Tag.OID, Buffer.from(out));
}

const pad2 = (n: number) => String(n).padStart(2, "0");

/** UTCTime for 1950..2049, GeneralizedTime otherwise (RFC 5280 §4.1.2.5); second precision. */
export function time(d: Date): Buffer {
  const y = d.getUTCFullYear();
  const rest = `${pad2(d.getUTCMonth() + 1)}${pad2(d.getUTCDate())}${pad2(d.getUTCHours())}${pad2(d.getUTCMinutes())}${pad2(d.getUTCSeconds())}Z`;
  if (y >= 1950 && y < 2050) return tlv(Tag.UTC_TIME, Buffer.from(`${pad2(y % 100)}${rest}`, "ascii"));
  return tlv(Tag.GENERALIZED_TIME, Buffer.from(`${String(y).padStart(4, "0")}${rest}`, "ascii"));
}

/** UTCTime only; throws outside 1950..2049 (the attested-certificate schema allows nothing else). */
export function utcTime(d: Date): Buffer {
  const y = d.getUTCFullYear();
  if (y < 1950 || y >= 2050) throw new DerError("UTCTime cannot represent years outside 1950..2049");
  return time(d);
}

// ---------------------------------------------------------------------------------------------
// Reader

export interface Node {
  tag: number;
  /** Content bytes (a view into the input). */
  content: Buffer;
  /** The whole TLV (a view into the input). */
  raw: Buffer;
}

/** Reads one TLV at `offset`, enforcing definite, minimal length encoding. */
export function readNode(buf: Buffer, offset = 0): { node: Node; next: number } {
  if (offset + 2 > buf.length) throw new DerError("truncated DER element");
  const tag = buf[offset]!;
  if ((tag & 0x1f) === 0x1f) throw new DerError("multi-byte DER tags are not supported");
  let p = offset + 1;
  const first = buf[p++]!;
  let len: number;
  if (first < 0x80) len = first;
  else {
    const n = first & 0x7f;
    if (n === 0) throw new DerError("indefinite length is not DER");
    if (n > 4) throw new DerError("DER length too large");
    if (p + n > buf.length) throw new DerError("truncated DER length");
    if (buf[p] === 0) throw new DerError("non-minimal DER length");
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[p++]!;
    if (len < 0x80) throw new DerError("non-minimal DER length");
  }
  if (p + len > buf.length) throw new DerError("truncated DER content");
  return {
    node: { tag, content: buf.subarray(p, p + len), raw: buf.subarray(offset, p + len) },
    next: p + len,
  };
}

/** Parses exactly one element spanning the whole buffer. */
export function parseOne(buf: Buffer): Node {
  const { node, next } = readNode(buf, 0);
  if (next !== buf.length) throw new DerError("trailing bytes after DER element");
  return node;
}

/** Sequential reader over the children of a constructed element. */
export class Reader {
  private pos = 0;
  constructor(private readonly buf: Buffer) {}

  get done(): boolean {
    return this.pos >= this.buf.length;
  }

  peekTag(): number | undefined {
    return this.done ? undefined : this.buf[this.pos];
  }

  any(): Node {
    const { node, next } = readNode(this.buf, this.pos);
    this.pos = next;
    return node;
  }

  expect(tag: number, what: string): Node {
    if (this.peekTag() !== tag) throw new DerError(`expected ${what}`);
    return this.any();
  }

  optional(tag: number): Node | undefined {
    return this.peekTag() === tag ? this.any() : undefined;
  }

  end(what: string): void {
    if (!this.done) throw new DerError(`unexpected trailing element in ${what}`);
  }
}

export const children = (n: Node): Reader => new Reader(n.content);

export function decodeOid(content: Buffer): string {
  if (content.length === 0) throw new DerError("empty OID");
  const arcs: number[] = [];
  let n = 0;
  for (let i = 0; i < content.length; i++) {
    const b = content[i]!;
    if (n === 0 && b === 0x80) throw new DerError("non-minimal OID arc");
    n = n * 128 + (b & 0x7f);
    if (n > Number.MAX_SAFE_INTEGER) throw new DerError("OID arc too large");
    if ((b & 0x80) === 0) {
      arcs.push(n);
      n = 0;
    } else if (i === content.length - 1) throw new DerError("truncated OID");
  }
  const first = arcs.shift()!;
  const head = first < 40 ? [0, first] : first < 80 ? [1, first - 40] : [2, first - 80];
  return [...head, ...arcs].join(".");
}

/** Unsigned magnitude of a DER INTEGER; rejects negative and non-minimal encodings. */
export function decodeUnsignedInteger(content: Buffer): Buffer {
  if (content.length === 0) throw new DerError("empty INTEGER");
  if ((content[0]! & 0x80) !== 0) throw new DerError("negative INTEGER");
  if (content.length > 1 && content[0] === 0 && (content[1]! & 0x80) === 0) {
    throw new DerError("non-minimal INTEGER");
  }
  return content[0] === 0 && content.length > 1 ? content.subarray(1) : content;
}

export function decodeSmallInteger(content: Buffer): number {
  const mag = decodeUnsignedInteger(content);
  if (mag.length > 6) throw new DerError("INTEGER too large");
  return mag.reduce((acc, b) => acc * 256 + b, 0);
}

export function decodeBoolean(content: Buffer): boolean {
  if (content.length !== 1 || (content[0] !== 0 && content[0] !== 0xff))
    throw new DerError("invalid DER BOOLEAN");
  return content[0] === 0xff;
}

/** BIT STRING with zero unused bits → its bytes. */
export function decodeBitStringBytes(content: Buffer): Buffer {
  if (content.length < 1 || content[0] !== 0) throw new DerError("BIT STRING must have zero unused bits");
  return content.subarray(1);
}

/** UTCTime / GeneralizedTime in the RFC 5280 profile (`Z`, whole seconds). */
export function decodeTime(node: Node): Date {
  const s = node.content.toString("latin1");
  let m: RegExpExecArray | null;
  let year: number;
  if (node.tag === Tag.UTC_TIME) {
    m = /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(s);
    if (!m) throw new DerError("invalid UTCTime");
    const yy = Number(m[1]);
    year = yy >= 50 ? 1900 + yy : 2000 + yy;
  } else if (node.tag === Tag.GENERALIZED_TIME) {
    m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(s);
    if (!m) throw new DerError("invalid GeneralizedTime");
    year = Number(m[1]);
  } else throw new DerError("expected a time");
  const [mo, d, h, mi, se] = [2, 3, 4, 5, 6].map((i) => Number(m![i]));
  const t = new Date(Date.UTC(year, mo! - 1, d, h, mi, se));
  if (
    t.getUTCFullYear() !== year ||
    t.getUTCMonth() !== mo! - 1 ||
    t.getUTCDate() !== d ||
    t.getUTCHours() !== h ||
    t.getUTCMinutes() !== mi ||
    t.getUTCSeconds() !== se
  ) {
    throw new DerError("time out of range");
  }
  return t;
}
