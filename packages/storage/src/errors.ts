import { CloisterError, Status, type StatusCode } from "@cloister/core";

/**
 * Any failure of the state layer. The code defaults to INTERNAL because the storage service
 * reports every storage failure to its callers as 13; messages never
 * carry stored values or key material.
 */
export class StorageError extends CloisterError {
  constructor(message: string, options?: { cause?: unknown; code?: StatusCode }) {
    super(options?.code ?? Status.INTERNAL, message, options);
    this.name = "StorageError";
  }
}

/**
 * A sealed value (or queue element) that does not authenticate: it was modified, truncated,
 * moved to another key or slot, or sealed with another key. Its plaintext is never returned.
 */
export class StorageIntegrityError extends StorageError {
  constructor(options?: { cause?: unknown }) {
    super("stored value failed its integrity check", options);
    this.name = "StorageIntegrityError";
  }
}

/** An operation on a store that has been closed (also rejects waiters pending at close). */
export class StorageClosedError extends StorageError {
  constructor() {
    super("storage is closed");
    this.name = "StorageClosedError";
  }
}

/** A caller passed something the store cannot accept (e.g. a key that is not bytes). */
export const invalidArgument = (message: string): StorageError =>
  new StorageError(message, { code: Status.INVALID_ARGUMENT });
