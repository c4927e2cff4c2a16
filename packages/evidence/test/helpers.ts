import { readFileSync } from "node:fs";
import { join } from "node:path";

/** Repository root, from dist/test. */
export const REPO_ROOT = new URL("../../../../", import.meta.url).pathname;
export const VECTORS = join(REPO_ROOT, "fixtures", "tee-evidence");
export const vector = (rel: string): Buffer => readFileSync(join(VECTORS, rel));
export const vectorPath = (rel: string): string => join(VECTORS, rel);

interface Expected {
  vectors: Record<
    string,
    { verify_at: string; must_fail_at: string; parsed: Record<string, unknown> } & Record<string, unknown>
  >;
}
export const expected = (folder: string): Expected =>
  JSON.parse(readFileSync(join(VECTORS, folder, "expected.json"), "utf8")) as Expected;

/** Deterministic bit positions (xorshift), so a failure reproduces. */
export function sampleBits(start: number, end: number, count: number, seed = 0x9e3779b9): number[] {
  let x = seed >>> 0 || 1;
  const out: number[] = [];
  const span = (end - start) * 8;
  for (let i = 0; i < count; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out.push(start * 8 + (x % span));
  }
  return out;
}

export function flip(b: Buffer, bit: number): Buffer {
  const c = Buffer.from(b);
  c[bit >> 3]! ^= 1 << (bit & 7);
  return c;
}
