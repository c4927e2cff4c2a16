import { createHash } from "node:crypto";

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

/** Bytes of log lines kept per task; what comes after is dropped behind TASK_LOG_TRUNCATED. */
export const TASK_LOG_MAX_BYTES = 1024 * 1024;

/** The last line of a task log that reached TASK_LOG_MAX_BYTES. */
export const TASK_LOG_TRUNCATED = "[cloister] log truncated: the task wrote more than 1 MiB of log";
