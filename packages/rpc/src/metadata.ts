import * as grpc from "@grpc/grpc-js";

/**
 * HTTP header values that are printable ASCII (plus space and tab) — what the legacy servers could
 * read as text. Anything else counts as absent.
 */
const VISIBLE_ASCII = /^[\t\x20-\x7e]+$/;

/** The first value of a text metadata key, or undefined if missing, empty or not visible ASCII. */
export function metadataValue(metadata: grpc.Metadata, key: string): string | undefined {
  const value = metadata.get(key.toLowerCase())[0];
  if (typeof value !== "string" || value.length === 0 || !VISIBLE_ASCII.test(value)) return undefined;
  return value;
}

/**
 * Cloister's GetTask metadata: the longest, in milliseconds, a caller lets the frontend hold a
 * GetTask answer while the task is in flight (`0`: answer at once). It can only lower the
 * frontend's `[frontend] get_task_wait_ms`.
 */
export const GET_TASK_WAIT_METADATA = "cloister-get-task-wait-ms";

/** The identity metadata (`id`, `token`) of every user call. */
export interface IdentityMetadata {
  id?: string;
  token?: string;
  role?: string;
}

/** Longest identity values read; a longer one counts as absent, so none reaches a log or a check. */
export const MAX_IDENTITY_LENGTH = { id: 256, token: 4096, role: 256 } as const;

/**
 * Reads `id`, `token` and `role`; each is undefined when missing, empty, not visible ASCII or
 * longer than MAX_IDENTITY_LENGTH.
 */
export function readIdentityMetadata(metadata: grpc.Metadata): IdentityMetadata {
  const out: IdentityMetadata = {};
  for (const key of ["id", "token", "role"] as const) {
    const value = metadataValue(metadata, key);
    if (value !== undefined && value.length <= MAX_IDENTITY_LENGTH[key]) out[key] = value;
  }
  return out;
}

/** Builds outgoing metadata from identity fields, skipping undefined ones. */
export function identityMetadata(fields: IdentityMetadata): grpc.Metadata {
  const metadata = new grpc.Metadata();
  for (const [key, value] of Object.entries(fields)) {
    if (value !== undefined) metadata.set(key, value);
  }
  return metadata;
}
