import {
  CloisterError,
  cloisterError,
  type KeyedMutex,
  type Logger,
  parseRole,
  type Role,
  Status,
} from "@cloister/core";
import { type IdPrefix, type IdType, isRecordIdError, type RecordId } from "@cloister/model";
import type { RecordStore, TaskStaging } from "@cloister/storage";

/** Who is calling: metadata `id` and `role` (the token's full role string, e.g. `DataOwner-bank`). */
export interface Caller {
  id: string;
  role: string;
}

/** What every part of management shares: the typed store, the hand-off, the record locks. */
export interface ManagementContext {
  records: RecordStore;
  staging: TaskStaging;
  /** Read-modify-write of one record runs under the lock of its key. */
  locks: KeyedMutex;
  log: Logger;
  /** `execution.file_exchange_dir`: where `file:` URLs may point; undefined refuses them. */
  fileExchangeDir: string | undefined;
}

export const denied = () => cloisterError("PERMISSION_DENIED");
export const invalidFunctionId = () => cloisterError("INVALID_FUNCTION_ID");
export const invalidDataId = () => cloisterError("INVALID_DATA_ID");
export const invalidTaskId = () => cloisterError("INVALID_TASK_ID");

export function requireId(caller: Caller): string {
  if (!caller.id) throw cloisterError("CALLER_ID_MISSING");
  return caller.id;
}

export function requireRole(caller: Caller): Role {
  if (!caller.role) throw cloisterError("CALLER_ROLE_MISSING");
  return parseRole(caller.role);
}

/**
 * An external id from a request, where a malformed one is reported with the legacy parser's
 * text as a validation error (Update*File, AssignData) and one of another kind as `unknown()`.
 */
export function parseIdStrict<K extends IdPrefix>(
  type: IdType<K>,
  external: string,
  unknown: () => CloisterError,
): RecordId<K> {
  try {
    return type.parse(external);
  } catch (e) {
    if (!isRecordIdError(e, "malformed")) throw unknown();
    if (e.part && "uuid" in e.part) throw cloisterError("INVALID_UUID", { value: e.part.uuid });
    throw cloisterError("INVALID_EXTERNAL_ID", { id: external });
  }
}

/** Lock key of a record: its storage key. */
export const lockKey = (key: Buffer): string => key.toString("utf8");

/** Storage failures reach clients as 13 `service internal error`; the cause is only logged. */
export function storageFailure(log: Logger) {
  return (e: unknown, what: string): unknown => {
    if (e instanceof CloisterError) return e;
    log.error({ err: e, what }, "storage operation failed");
    return cloisterError("INTERNAL");
  };
}

/**
 * At the API boundary, a request that fails validation (URL, ids, crypto info, cmac, executor,
 * arguments: legacy 13 with a parser's text) is the client's fault: it is answered 3
 * INVALID_ARGUMENT with the same text. Only a real internal failure (`service internal error`)
 * stays 13 (docs/decisions.md).
 */
export function validationAsInvalidArgument(e: unknown): unknown {
  // Validation failures are raised with their catalog kind, which is already code 3; what is
  // left here is a failure of no kind (a parser's), never a peer's (RpcError, StorageError: a
  // record that does not unseal, storage down), which stays what it is.
  if (e instanceof CloisterError && e.constructor === CloisterError && e.kind === undefined)
    return new CloisterError(Status.INVALID_ARGUMENT, e.message, { cause: e });
  return e;
}
