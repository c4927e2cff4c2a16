import { TaskFailure } from "@cloister/runtime";
import { lines, utf8 } from "../text.js";

export interface PsiInput {
  data1: Uint8Array;
  data2: Uint8Array;
  ascending: boolean;
}
export interface PsiOutput {
  result1: Uint8Array;
  result2: Uint8Array;
  common: number;
}

const HEX_VALUE = new Int8Array(128).fill(-1);
for (let i = 0; i < 10; i++) HEX_VALUE[48 + i] = i;
for (let i = 0; i < 6; i++) {
  HEX_VALUE[65 + i] = 10 + i;
  HEX_VALUE[97 + i] = 10 + i;
}

/**
 * Strict hex (either case, even length). The failure names the position but not the offending
 * character: the reason is shown to every participant and the line is someone's private data.
 */
export function decodeHex(s: string): Uint8Array {
  if (s.length % 2 !== 0) throw new TaskFailure("Odd number of digits");
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < s.length; i += 2) {
    const hi = HEX_VALUE[s.charCodeAt(i)] ?? -1;
    const lo = HEX_VALUE[s.charCodeAt(i + 1)] ?? -1;
    if (hi < 0) throw new TaskFailure(`Invalid character at position ${i}`);
    if (lo < 0) throw new TaskFailure(`Invalid character at position ${i + 1}`);
    out[i / 2] = (hi << 4) | lo;
  }
  return out;
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  return Buffer.compare(a, b);
}

function readSorted(data: Uint8Array, ascending: boolean): Uint8Array[] {
  const items = lines(utf8(data)).map(decodeHex);
  for (let i = 1; i < items.length; i++) {
    const c = compareBytes(items[i - 1] as Uint8Array, items[i] as Uint8Array);
    if (ascending ? c > 0 : c < 0) throw new TaskFailure("Invalid ordering");
  }
  return items;
}

/** Intersection of two sorted sets by one merge pass; marks which lines of each side matched. */
export function orderedSetIntersect({ data1, data2, ascending }: PsiInput): PsiOutput {
  const a = readSorted(data1, ascending);
  const b = readSorted(data2, ascending);
  const marks1 = new Uint8Array(a.length).fill(0x30);
  const marks2 = new Uint8Array(b.length).fill(0x30);
  let i = 0;
  let j = 0;
  let common = 0;
  while (i < a.length && j < b.length) {
    const c = compareBytes(a[i] as Uint8Array, b[j] as Uint8Array);
    if (c === 0) {
      marks1[i++] = 0x31;
      marks2[j++] = 0x31;
      common++;
    } else if (ascending ? c < 0 : c > 0) {
      i++;
    } else {
      j++;
    }
  }
  return { result1: marks1, result2: marks2, common };
}
