import { CloisterError, type Logger, parseRole, type Role, Status, type StatusCode } from "@cloister/core";
import { type IdPrefix, type IdType, isRecordIdError, type RecordId } from "@cloister/model";
import type { KeyedMutex, RecordStore, TaskStaging } from "@cloister/storage";

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

const err = (code: StatusCode, message: string) => new CloisterError(code, message);
export const fail = err;
export const denied = () => err(Status.PERMISSION_DENIED, "permission denied");
export const invalidFunctionId = () => err(Status.INVALID_ARGUMENT, "invalid function id");
export const invalidDataId = () => err(Status.INVALID_ARGUMENT, "invalid data id");
export const invalidTaskId = () => err(Status.INVALID_ARGUMENT, "invalid task id");
export const INTERNAL_ERROR_TEXT = "service internal error";

export function requireId(caller: Caller): string {
  if (!caller.id) throw err(Status.UNKNOWN, "missing user id");
  return caller.id;
}

export function requireRole(caller: Caller): Role {
  if (!caller.role) throw err(Status.UNKNOWN, "missing user role");
  return parseRole(caller.role);
}

/**
 * An external id from a request, where a malformed one is reported with the parser's text as a
 * validation error (Update*File, AssignData) and one of another kind as `unknown()`.
 */
export function parseIdStrict<K extends IdPrefix>(
  type: IdType<K>,
  external: string,
  unknown: () => CloisterError,
): RecordId<K> {
  try {
    return type.parse(external);
  } catch (e) {
    if (isRecordIdError(e, "malformed")) throw err(Status.INTERNAL, e.message);
    throw unknown();
  }
}

/** Lock key of a record: its storage key. */
export const lockKey = (key: Buffer): string => key.toString("utf8");

/** Storage failures reach clients as 13 `service internal error`; the cause is only logged. */
export function storageFailure(log: Logger) {
  return (e: unknown, what: string): unknown => {
    if (e instanceof CloisterError) return e;
    log.error({ err: e, what }, "storage operation failed");
    return err(Status.INTERNAL, INTERNAL_ERROR_TEXT);
  };
}

/**
 * At the API boundary, a request that fails validation (URL, ids, crypto info, cmac, executor,
 * arguments: legacy 13 with a parser's text) is the client's fault: it is answered 3
 * INVALID_ARGUMENT with the same text. Only a real internal failure (`service internal error`)
 * stays 13 (docs/decisions.md).
 */
export function validationAsInvalidArgument(e: unknown): unknown {
  // Validation throws plain CloisterErrors; a peer's failure (RpcError, StorageError: a record
  // that does not unseal, storage down) is a subclass and stays what it is.
  if (
    e instanceof CloisterError &&
    e.constructor === CloisterError &&
    e.code === Status.INTERNAL &&
    e.message !== INTERNAL_ERROR_TEXT
  )
    return new CloisterError(Status.INVALID_ARGUMENT, e.message, { cause: e });
  return e;
}
