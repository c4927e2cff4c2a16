import { createHash } from "node:crypto";
import { ExternalIdError, isUuid } from "@cloister/core";

/** Split an external id at its first `-` into type prefix and UUID (any prefix accepted). */
export function splitExternalId(id: string): { prefix: string; uuid: string } {
  const dash = id.indexOf("-");
  if (dash < 0) throw new ExternalIdError(`Invalid external id: ${id}`);
  const uuid = id.slice(dash + 1);
  if (!isUuid(uuid))
    throw new ExternalIdError(
      `invalid character: expected an optional prefix of \`urn:uuid:\` followed by [0-9a-fA-F-], found \`${uuid}\``,
    );
  return { prefix: id.slice(0, dash), uuid: uuid.toLowerCase() };
}

/** The UUID of `<kind>-<uuid>`, or undefined when malformed or of another kind. */
export function uuidOf(id: string, kind: string): string | undefined {
  try {
    const { prefix, uuid } = splitExternalId(id);
    return prefix === kind ? uuid : undefined;
  } catch {
    return undefined;
  }
}

/** RFC 4122 DNS namespace, used by the legacy per-user function lists. */
export const DNS_NAMESPACE = "6ba7b810-9dad-11d1-80b4-00c04fd430c8";

/** Name-based UUID (version 5, SHA-1). */
export function uuidV5(name: string, namespace: string = DNS_NAMESPACE): string {
  const ns = Buffer.from(namespace.replaceAll("-", ""), "hex");
  const h = createHash("sha1").update(ns).update(Buffer.from(name, "utf8")).digest().subarray(0, 16);
  h[6] = (h[6]! & 0x0f) | 0x50;
  h[8] = (h[8]! & 0x3f) | 0x80;
  const x = h.toString("hex");
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

/** Storage keys of the management records. */
export const keys = {
  function: (uuid: string) => `function-${uuid}`,
  usage: (uuid: string) => `usage-${uuid}`,
  input: (uuid: string) => `input-${uuid}`,
  output: (uuid: string) => `output-${uuid}`,
  task: (uuid: string) => `task-${uuid}`,
  /** Attestation evidence of a task's run (Cloister extension; not a Teaclave record). */
  taskEvidence: (uuid: string) => `evidence-task-${uuid}`,
  /** The task's own log, appended while it runs (Cloister extension; not a Teaclave record). */
  taskLog: (uuid: string) => `log-task-${uuid}`,
  /** Function lists of a user: `user-<uuid v5(DNS, user id)>`. */
  user: (userId: string) => `user-${uuidV5(userId)}`,
} as const;

/** Prefix shared by every function record key (for listing all functions). */
export const FUNCTION_KEY_PREFIX = "function-";

/** Largest task evidence kept (it holds certificates and quotes, never task data). */
export const TASK_EVIDENCE_MAX_BYTES = 64 * 1024;

/** Bytes of log lines kept per task; what comes after is dropped behind TASK_LOG_TRUNCATED. */
export const TASK_LOG_MAX_BYTES = 1024 * 1024;

/** The last line of a task log that reached TASK_LOG_MAX_BYTES. */
export const TASK_LOG_TRUNCATED = "[cloister] log truncated: the task wrote more than 1 MiB of log";

/** Where the scheduler keeps its snapshot of execution nodes and the queue, for `cloister status`. */
export const SCHEDULER_STATUS_KEY = "status-scheduler";

/** Queue names in storage. */
export const STAGED_TASK_QUEUE = "staged-task";
export const CANCEL_QUEUE = "cancel_queue";
