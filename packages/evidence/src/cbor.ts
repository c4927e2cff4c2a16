// A minimal, strict CBOR reader (RFC 8949): definite lengths only, which is all the RA-TLS
// evidence extensions use. Every item keeps its raw bytes, because a claims hash is over them.
import { EvidenceError } from "./errors.js";

export type CborValue =
  | { type: "uint"; value: bigint; raw: Buffer }
  | { type: "nint"; value: bigint; raw: Buffer }
  | { type: "bytes"; value: Buffer; raw: Buffer }
  | { type: "text"; value: string; raw: Buffer }
  | { type: "array"; value: CborValue[]; raw: Buffer }
  | { type: "map"; value: [CborValue, CborValue][]; raw: Buffer }
  | { type: "tag"; tag: bigint; value: CborValue; raw: Buffer }
  | { type: "simple"; value: boolean | null | number; raw: Buffer };

const MAX_DEPTH = 16;
const bad = (m: string) => new EvidenceError("ratls.format", `CBOR: ${m}`);

function decodeAt(b: Buffer, pos: number, depth: number): { v: CborValue; next: number } {
  if (depth > MAX_DEPTH) throw bad("nested too deeply");
  if (pos >= b.length) throw bad("truncated");
  const ib = b[pos]!;
  const major = ib >> 5;
  const info = ib & 0x1f;
  let p = pos + 1;
  let arg: bigint;
  if (info < 24) arg = BigInt(info);
  else if (info <= 27) {
    const n = 1 << (info - 24);
    if (p + n > b.length) throw bad("truncated argument");
    arg = 0n;
    for (let i = 0; i < n; i++) arg = (arg << 8n) | BigInt(b[p + i]!);
    p += n;
  } else throw bad("indefinite lengths are not supported");
  const len = () => {
    if (arg > BigInt(b.length)) throw bad("length exceeds the data");
    return Number(arg);
  };
  // biome-ignore lint/suspicious/noExplicitAny: each case builds one member of the union
  const done = (v: any, next: number) => ({ v: { ...v, raw: b.subarray(pos, next) } as CborValue, next });
  switch (major) {
    case 0:
      return done({ type: "uint", value: arg }, p);
    case 1:
      return done({ type: "nint", value: -1n - arg }, p);
    case 2:
    case 3: {
      const n = len();
      if (p + n > b.length) throw bad("string runs past the data");
      const bytes = b.subarray(p, p + n);
      if (major === 2) return done({ type: "bytes", value: bytes }, p + n);
      return done({ type: "text", value: new TextDecoder("utf-8", { fatal: true }).decode(bytes) }, p + n);
    }
    case 4: {
      const items: CborValue[] = [];
      for (let i = 0, n = len(); i < n; i++) {
        const r = decodeAt(b, p, depth + 1);
        items.push(r.v);
        p = r.next;
      }
      return done({ type: "array", value: items }, p);
    }
    case 5: {
      const entries: [CborValue, CborValue][] = [];
      for (let i = 0, n = len(); i < n; i++) {
        const k = decodeAt(b, p, depth + 1);
        const v = decodeAt(b, k.next, depth + 1);
        entries.push([k.v, v.v]);
        p = v.next;
      }
      return done({ type: "map", value: entries }, p);
    }
    case 6: {
      const inner = decodeAt(b, p, depth + 1);
      return done({ type: "tag", tag: arg, value: inner.v }, inner.next);
    }
    default: {
      const simple = info === 20 ? false : info === 21 ? true : info === 22 ? null : Number(arg);
      return done({ type: "simple", value: simple }, p);
    }
  }
}

/** Decodes exactly one CBOR item spanning `b`. */
export function decodeCbor(b: Buffer): CborValue {
  const { v, next } = decodeAt(b, 0, 0);
  if (next !== b.length) throw bad("trailing bytes");
  return v;
}

export function mapGet(m: CborValue, key: string): CborValue | undefined {
  if (m.type !== "map") return undefined;
  return m.value.find(([k]) => k.type === "text" && k.value === key)?.[1];
}
