// Parsing of command-line values into request fields. Every function throws a UsageError whose
// message names the flag, so a typo never reaches the platform as a confusing server error.
import { FILE_CRYPTO_SCHEMAS, type FileCryptoSchema } from "@cloister/crypto";

/** A mistake in the command line itself (exit status 2, no gRPC code). */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** `name=value` pairs from repeated flags; the value may contain `=`. */
export function pairs(values: string[] | undefined, flag = "value"): Array<[string, string]> {
  return (values ?? []).map((v) => {
    const i = v.indexOf("=");
    if (i <= 0) throw new UsageError(`${flag}: expected name=value, got ${JSON.stringify(v)}`);
    return [v.slice(0, i), v.slice(i + 1)];
  });
}

/** Hex bytes; empty or absent gives an empty buffer. */
export function hex(value: string | undefined, what: string): Buffer {
  if (!value) return Buffer.alloc(0);
  if (!/^([0-9a-fA-F]{2})*$/.test(value))
    throw new UsageError(`${what} must be hex (an even number of 0-9a-f digits)`);
  return Buffer.from(value, "hex");
}

export interface ArgumentSpec {
  key: string;
  defaultValue: string;
  allowOverwrite: boolean;
}

/**
 * Declared function arguments: `key` or `key=default` are overwritable by task creators;
 * `fixed` specs (`--fixed-argument key=value`) are not.
 */
export function argumentSpecs(
  overwritable: string[] | undefined,
  fixed: string[] | undefined,
): ArgumentSpec[] {
  const out: ArgumentSpec[] = [];
  for (const spec of overwritable ?? []) {
    const i = spec.indexOf("=");
    const key = i < 0 ? spec : spec.slice(0, i);
    if (!key) throw new UsageError(`--argument: empty key in ${JSON.stringify(spec)}`);
    out.push({ key, defaultValue: i < 0 ? "" : spec.slice(i + 1), allowOverwrite: true });
  }
  for (const [key, defaultValue] of pairs(fixed, "--fixed-argument"))
    out.push({ key, defaultValue, allowOverwrite: false });
  return out;
}

export interface FileSpec {
  name: string;
  description: string;
  optional: boolean;
}

/** Declared inputs/outputs: `name`, `name?` (optional), either followed by `:description`. */
export function fileSpecs(values: string[] | undefined, flag: string): FileSpec[] {
  return (values ?? []).map((v) => {
    const colon = v.indexOf(":");
    let name = colon < 0 ? v : v.slice(0, colon);
    const description = colon < 0 ? "" : v.slice(colon + 1);
    const optional = name.endsWith("?");
    if (optional) name = name.slice(0, -1);
    if (!name) throw new UsageError(`${flag}: empty name in ${JSON.stringify(v)}`);
    return { name, description, optional };
  });
}

/** `name=uid,uid` → CreateTask ownership entries. */
export function ownerships(
  values: string[] | undefined,
  flag: string,
): Array<{ dataName: string; uids: string[] }> {
  return pairs(values, flag).map(([dataName, list]) => {
    const uids = list
      .split(",")
      .map((u) => u.trim())
      .filter(Boolean);
    if (uids.length === 0) throw new UsageError(`${flag}: ${dataName} has no owners`);
    return { dataName, uids };
  });
}

/** `name=data-id` pairs for AssignData. */
export function dataMap(values: string[] | undefined, flag: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, id] of pairs(values, flag)) {
    if (name in out) throw new UsageError(`${flag}: ${name} given twice`);
    out[name] = id;
  }
  return out;
}

/** Task arguments: a JSON object. */
export function jsonObject(text: string, flag: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new UsageError(`${flag}: not valid JSON (${(e as Error).message})`);
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new UsageError(`${flag}: must be a JSON object, e.g. '{"message":"hi"}'`);
  }
  return value as Record<string, unknown>;
}

/** A decimal integer within [min, max]. */
export function integer(text: string, flag: string, min: number, max: number): number {
  if (!/^-?\d+$/.test(text.trim()))
    throw new UsageError(`${flag}: expected an integer, got ${JSON.stringify(text)}`);
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < min || n > max)
    throw new UsageError(`${flag}: must be between ${min} and ${max}`);
  return n;
}

export function schema(text: string): FileCryptoSchema {
  if (!(FILE_CRYPTO_SCHEMAS as readonly string[]).includes(text)) {
    throw new UsageError(
      `--schema: expected one of ${FILE_CRYPTO_SCHEMAS.join(", ")}, got ${JSON.stringify(text)}`,
    );
  }
  return text as FileCryptoSchema;
}

export const ROLES = ["PlatformAdmin", "FunctionOwner", "DataOwnerManager", "DataOwner"] as const;

/** Role names are case-sensitive on the platform; catch a near miss before sending it. */
export function role(text: string): string {
  if ((ROLES as readonly string[]).includes(text)) return text;
  const near = ROLES.find((r) => r.toLowerCase() === text.toLowerCase());
  throw new UsageError(
    `--role: expected one of ${ROLES.join(", ")}${near ? ` (did you mean ${near}?)` : ""}`,
  );
}
