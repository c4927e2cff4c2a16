import { TaskFailure } from "@cloister/runtime";

const utf8Decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** Whole input as UTF-8 text; invalid UTF-8 fails like the legacy `read_to_string`. */
export function utf8(data: Uint8Array): string {
  try {
    return utf8Decoder.decode(data);
  } catch {
    throw new TaskFailure("stream did not contain valid UTF-8");
  }
}

/**
 * Lines as the legacy line readers yield them: split on `\n`, drop one trailing `\r` per line, and
 * no extra empty line after a final newline.
 */
export function lines(text: string): string[] {
  if (text.length === 0) return [];
  const parts = text.split("\n");
  if (parts[parts.length - 1] === "") parts.pop();
  return parts.map((l) => (l.endsWith("\r") ? l.slice(0, -1) : l));
}

/** Rust's `str::trim` (Unicode White_Space; unlike JS it keeps U+FEFF). */
export function rustTrim(s: string): string {
  return s.replace(/^[\p{White_Space}]+|[\p{White_Space}]+$/gu, "");
}

const FLOAT_RE = /^[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|inf|infinity|nan)$/i;

/** Rust's `f64::from_str`: no surrounding spaces, no hex, no empty string. */
export function parseF64(s: string): number {
  if (s.length === 0) throw new TaskFailure("cannot parse float from empty string");
  if (!FLOAT_RE.test(s)) throw new TaskFailure("invalid float literal");
  const body = s.replace(/^[+-]/, "").toLowerCase();
  const negative = s.startsWith("-");
  if (body === "nan") return Number.NaN;
  if (body === "inf" || body === "infinity") return negative ? -Infinity : Infinity;
  return Number(s);
}

/**
 * Rust's `f32::from_str`. Rounds through f64 first; this differs from a direct decimal→f32 rounding
 * only for decimals within 2^-29 relative of an f32 rounding midpoint.
 */
export function parseF32(s: string): number {
  return Math.fround(parseF64(s));
}

/** Shortest round-trip decimal digits of `x` (finite, non-zero): x = 0.d1d2… × 10^point. */
interface Shortest {
  digits: string;
  /** Position of the decimal point relative to the first digit (value = 0.digits × 10^point). */
  point: number;
}

function splitExponential(s: string): Shortest {
  const [mant = "", exp = "0"] = s.split("e");
  const digits = mant.replace(".", "").replace(/0+$/, "") || "0";
  return { digits, point: Number(exp) + 1 };
}

function shortestF64(x: number): Shortest {
  return splitExponential(Math.abs(x).toExponential());
}

/** Shortest decimal that reads back as the same f32 (what ryu's f32 mode prints). */
function shortestF32(x: number): Shortest {
  const a = Math.abs(x);
  for (let p = 1; p <= 9; p++) {
    const s = a.toExponential(p - 1);
    if (Math.fround(Number(s)) === a) return splitExponential(s);
    // Near a power of two the round-trip interval is lopsided: the nearest p-digit decimal may
    // miss while its neighbour on the wide side still reads back.
    const { digits, point } = splitExponential(s);
    const scaled = BigInt(digits.padEnd(p, "0"));
    for (const d of [scaled - 1n, scaled + 1n]) {
      if (d <= 0n) continue;
      const txt = d.toString();
      const cand = Number(`0.${txt}e${point + (txt.length - p)}`);
      if (Math.fround(cand) === a) return splitExponential(cand.toExponential(txt.length - 1));
    }
  }
  return splitExponential(a.toExponential(8));
}

function plain(sd: Shortest): string {
  const { digits, point } = sd;
  if (point <= 0) return `0.${"0".repeat(-point)}${digits}`;
  if (point >= digits.length) return `${digits}${"0".repeat(point - digits.length)}.0`;
  return `${digits.slice(0, point)}.${digits.slice(point)}`;
}

function exponential(sd: Shortest): string {
  const { digits, point } = sd;
  const mant = digits.length === 1 ? digits : `${digits[0]}.${digits.slice(1)}`;
  return `${mant}e${point - 1}`;
}

function ryu(x: number, sd: (x: number) => Shortest, maxPoint: number, minPoint: number): string {
  if (Number.isNaN(x)) return "NaN";
  if (!Number.isFinite(x)) return x > 0 ? "inf" : "-inf";
  const sign = x < 0 || Object.is(x, -0) ? "-" : "";
  if (x === 0) return `${sign}0.0`;
  const parts = sd(x);
  const usePlain = parts.point <= maxPoint && parts.point > minPoint;
  return sign + (usePlain ? plain(parts) : exponential(parts));
}

/** An f64 as serde_json writes it (ryu): `1.0`, `0.001234`, `1e-7`, `1.5e300`. */
export function jsonF64(x: number): string {
  return ryu(x, shortestF64, 16, -5);
}

/** An f32 as serde_json writes it (ryu's f32 mode): shortest digits that read back as that f32. */
export function jsonF32(x: number): string {
  return ryu(x, shortestF32, 13, -6);
}

/** Rust `{:?}` of an f64: plain in [1e-4, 1e16), exponential outside, `.0` for integral values. */
export function debugF64(x: number): string {
  if (Number.isNaN(x)) return "NaN";
  if (!Number.isFinite(x)) return x > 0 ? "inf" : "-inf";
  const sign = x < 0 || Object.is(x, -0) ? "-" : "";
  if (x === 0) return `${sign}0.0`;
  const a = Math.abs(x);
  const parts = shortestF64(a);
  return sign + (a >= 1e-4 && a < 1e16 ? plain(parts) : exponential(parts));
}
