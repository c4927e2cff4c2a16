import { isCanonical } from "./arguments.js";
import { canonicalJson, compareBytes, type JsonObject, stringifyJson } from "./json.js";
import { sortedSet } from "./sets.js";

/*
 * Pieces of record text, written straight from the typed record (no JsonValue tree between).
 * Each piece spells exactly what `stringifyJson` writes for the JsonValue the record's
 * `…ToJsonValue` builds: strings through JSON.stringify, byte fields in the record's form, sets
 * and map keys in ascending byte order. The model's tests run both writers over the same records
 * and compare the bytes.
 */

export const quote = (s: string): string => JSON.stringify(s);

/** A byte field: canonical base64 (codec version 2) or the legacy array of numbers. */
export function bytesText(b: Uint8Array, base64: boolean): string {
  if (base64) return `"${Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("base64")}"`;
  return b.length === 0 ? "[]" : `[${b.join(",")}]`;
}

export function stringsText(items: readonly string[]): string {
  if (items.length === 0) return "[]";
  let out = `[${quote(items[0] as string)}`;
  for (let i = 1; i < items.length; i++) out += `,${quote(items[i] as string)}`;
  return `${out}]`;
}

/** `{"uids":[…]}` of a set, sorted. */
export function uidsText(s: ReadonlySet<string>): string {
  if (s.size === 0) return '{"uids":[]}';
  if (s.size === 1) for (const x of s) return `{"uids":[${quote(x)}]}`;
  return `{"uids":${stringsText(sortedSet(s))}}`;
}

/** An object of a map's entries in ascending byte order of their keys. */
export function sortedMapText<V>(m: ReadonlyMap<string, V>, value: (v: V) => string): string {
  if (m.size === 0) return "{}";
  if (m.size === 1) {
    for (const [k, v] of m) return `{${quote(k)}:${value(v)}}`;
  }
  const entries = [...m.entries()].sort((a, b) => compareBytes(a[0], b[0]));
  let out = "{";
  for (let i = 0; i < entries.length; i++) {
    const [k, v] = entries[i] as [string, V];
    out += `${i === 0 ? "" : ","}${quote(k)}:${value(v)}`;
  }
  return `${out}}`;
}

/** `{"inner":{…}}`: the legacy wrapper of an ordered map. */
export const innerText = <V>(m: ReadonlyMap<string, V>, value: (v: V) => string): string =>
  `{"inner":${sortedMapText(m, value)}}`;

/** Task arguments: `{"inner":<canonical JSON>}` (records keep them canonical: no sorting then). */
export const argumentsText = (args: JsonObject): string =>
  `{"inner":${isCanonical(args) ? stringifyJson(args) : canonicalJson(args)}}`;

/** The opening of a record object in `version` (2 puts `"v":2` first). */
export const recordHead = (base64: boolean): string => (base64 ? '{"v":2,' : "{");
