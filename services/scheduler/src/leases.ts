/**
 * Durable scheduler records. Keys never start with `queue-` (the queues' key space).
 *
 * - `scheduler-claim-<id>`: a staged task taken off the queue, moved there by the storage
 *   service in the same atomic step as the dequeue (so no crash or lost answer can lose it);
 * - `scheduler-lease-<task>`: who holds the task, under which generation, how many hand-overs
 *   it has used;
 * - `scheduler-node-<executor>`: the execution nodes (executor ids) the scheduler knows.
 */
export const CLAIM_PREFIX = "scheduler-claim-";
export const LEASE_PREFIX = "scheduler-lease-";
export const NODE_PREFIX = "scheduler-node-";

export type LeaseState = "handed" | "running" | "queued";

export interface Lease {
  /** Claim id under which the staged task is kept while leased ("" while queued). */
  claim: string;
  /** Grows by one at every hand-over; calls quoting an older one are refused. */
  generation: number;
  /** Hand-overs used so far. */
  attempts: number;
  executor: string;
  state: LeaseState;
}

export const claimKey = (id: string) => Buffer.from(CLAIM_PREFIX + id, "utf8");
export const leaseKey = (task: string) => Buffer.from(LEASE_PREFIX + task, "utf8");
export const nodeKey = (executor: string) => Buffer.from(NODE_PREFIX + executor, "utf8");

export const serializeLease = (l: Lease): Buffer => Buffer.from(JSON.stringify(l), "utf8");

export function parseLease(raw: Buffer): Lease {
  const v = JSON.parse(raw.toString("utf8")) as Partial<Lease>;
  const states: LeaseState[] = ["handed", "running", "queued"];
  if (
    typeof v.claim !== "string" ||
    !Number.isSafeInteger(v.generation) ||
    !Number.isSafeInteger(v.attempts) ||
    typeof v.executor !== "string" ||
    !states.includes(v.state as LeaseState)
  )
    throw new Error("malformed lease record");
  return v as Lease;
}
