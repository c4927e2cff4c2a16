import {
  type RecordCodec,
  RecordFormatError,
  rawCodec,
  recordType,
  TaskId,
  uuidSuffix,
} from "@cloister/model";

/**
 * Durable scheduler records (record types of the scheduler's own, read through the same
 * `RecordStore` machinery as the platform's). Keys never start with `queue-` (the queues' key space).
 *
 * - `scheduler-claim-<id>`: a staged task taken off the queue, moved there by the storage
 *   service in the same atomic step as the dequeue (so no crash or lost answer can lose it);
 * - `scheduler-lease-<task>`: who holds the task, under which generation, how many hand-overs
 *   it has used;
 * - `scheduler-node-<executor>`: the execution nodes (executor ids) the scheduler knows;
 * - `scheduler-cancel-<task>`: a cancel request not yet delivered (empty value).
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

export const serializeLease = (l: Lease): Buffer => Buffer.from(JSON.stringify(l), "utf8");

export function parseLease(raw: Buffer | string): Lease {
  let v: Partial<Lease>;
  try {
    v = JSON.parse(raw.toString()) as Partial<Lease>;
  } catch {
    throw new RecordFormatError("malformed lease record");
  }
  const states: LeaseState[] = ["handed", "running", "queued"];
  if (
    typeof v.claim !== "string" ||
    !Number.isSafeInteger(v.generation) ||
    !Number.isSafeInteger(v.attempts) ||
    typeof v.executor !== "string" ||
    !states.includes(v.state as LeaseState)
  )
    throw new RecordFormatError("malformed lease record");
  return v as Lease;
}

const leaseCodec: RecordCodec<Lease> = { encode: serializeLease, decode: parseLease };

/** The staged task a lease holds, as claimed off the queue (the element as queued). */
export const claimRecords = recordType<string, Buffer>({
  name: "claim",
  prefix: CLAIM_PREFIX,
  codec: rawCodec,
  idOfSuffix: (s) => s,
});
export const leaseRecords = recordType<TaskId, Lease>({
  name: "lease",
  prefix: LEASE_PREFIX,
  codec: leaseCodec,
  idOfSuffix: uuidSuffix(TaskId),
});
export const nodeRecords = recordType<string, Buffer>({
  name: "node",
  prefix: NODE_PREFIX,
  codec: rawCodec,
  idOfSuffix: (s) => s,
});
export const cancelMarks = recordType<TaskId, Buffer>({
  name: "cancel mark",
  prefix: "scheduler-cancel-",
  codec: rawCodec,
  idOfSuffix: uuidSuffix(TaskId),
});

export const claimKey = (id: string): Buffer => claimRecords.key(id);
export const leaseKey = (task: TaskId): Buffer => leaseRecords.key(task);
export const nodeKey = (executor: string): Buffer => nodeRecords.key(executor);
export const cancelMarkKey = (task: TaskId): Buffer => cancelMarks.key(task);
