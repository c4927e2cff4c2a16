// Small byte and text helpers shared by the verifiers.
import { EvidenceError } from "./errors.js";

export const hex = (b: Uint8Array): string => Buffer.from(b).toString("hex");

/** Hex text → bytes, exact length when given; rejects anything that is not hex. */
export function fromHex(s: unknown, what: string, length?: number): Buffer {
  if (typeof s !== "string" || !/^(?:[0-9a-fA-F]{2})*$/.test(s))
    throw new EvidenceError("collateral.format", `${what} is not hex`);
  const b = Buffer.from(s, "hex");
  if (length !== undefined && b.length !== length)
    throw new EvidenceError("collateral.format", `${what} must be ${length} bytes`);
  return b;
}

export const isZero = (b: Uint8Array): boolean => b.every((x) => x === 0);

export const iso = (d: Date): string => d.toISOString().replace(/\.000Z$/, "Z");

/**
 * The exact text of the object value of member `key` in a JSON document, from its `{` to the
 * matching `}`. Intel signs these bytes as served, so they must not be re-serialised.
 */
export function jsonMemberText(text: string, key: string): string | undefined {
  const needle = `"${key}"`;
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === "\\") i++;
      else if (c === '"') inString = false;
      continue;
    }
    if (c === '"') {
      if (depth === 1 && text.startsWith(needle, i)) {
        let j = i + needle.length;
        while (/\s/.test(text[j] ?? "")) j++;
        if (text[j] !== ":") {
          inString = true;
          continue;
        }
        j++;
        while (/\s/.test(text[j] ?? "")) j++;
        if (text[j] !== "{") return undefined;
        const end = matchingBrace(text, j);
        return end < 0 ? undefined : text.slice(j, end + 1);
      }
      inString = true;
    } else if (c === "{" || c === "[") depth++;
    else if (c === "}" || c === "]") depth--;
  }
  return undefined;
}

function matchingBrace(text: string, start: number): number {
  let depth = 0;
  let inString = false;
  for (let i = start; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === "\\") i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === "{" || c === "[") depth++;
    else if (c === "}" || c === "]") {
      depth--;
      if (depth === 0) return i;
    }
  }
  return -1;
}

/** Parses an RFC 3339 / ISO 8601 UTC time; rejects anything Date would guess at. */
export function parseTime(s: unknown, what: string): Date {
  if (
    typeof s !== "string" ||
    !/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})$/.test(s)
  )
    throw new EvidenceError("collateral.format", `${what} is not an RFC 3339 time`);
  const d = new Date(s);
  if (Number.isNaN(d.getTime())) throw new EvidenceError("collateral.format", `${what} is not a valid time`);
  return d;
}
