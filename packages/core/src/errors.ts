import {
  ERRORS,
  type ErrorKind,
  type ErrorParamName,
  type ErrorParams,
  errorText,
  kindOf,
} from "./catalog.js";
import type { StatusCode } from "./status.js";

export { Status, type StatusCode } from "./status.js";
/**
 * An error a client can act on: `code` is the gRPC status sent on the wire, `message` the exact
 * text, and `kind` which failure of the catalog (catalog.ts) it is. Code tests `kind`, never the
 * message. Never put secrets in the message: it crosses the trust boundary.
 */
export class CloisterError extends Error {
  readonly code: StatusCode;
  /**
   * Undefined only for an error received from a peer whose code and text match no kind (a
   * legacy peer's own text, say).
   */
  readonly kind: ErrorKind | undefined;
  constructor(
    code: StatusCode,
    message: string,
    options?: { cause?: unknown; kind?: ErrorKind | undefined },
  ) {
    super(message, options);
    this.name = "CloisterError";
    this.code = code;
    this.kind = options?.kind ?? kindOf(code, message);
  }
}

/** The error of the catalog's `kind`, its text filled from `params`. */
export function cloisterError<K extends ErrorKind>(
  kind: K,
  ...args: [ErrorParamName<K>] extends [never]
    ? [params?: ErrorParams<K>, options?: { cause?: unknown }]
    : [params: ErrorParams<K>, options?: { cause?: unknown }]
): CloisterError {
  const [params, options] = args;
  return new CloisterError(ERRORS[kind].code, errorText(kind, params as Record<string, string>), {
    ...options,
    kind,
  });
}

export const isCloisterError = (e: unknown): e is CloisterError => e instanceof CloisterError;

/** Whether `e` is a failure of one of `kinds` (raised here or received from a peer). */
export const hasKind = (e: unknown, ...kinds: ErrorKind[]): e is CloisterError =>
  e instanceof CloisterError && e.kind !== undefined && kinds.includes(e.kind);

/** Errors of the trust layer: attestation evidence that does not verify. */
export class AttestationError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "AttestationError";
  }
}

/** Configuration that cannot be used; raised at start-up, before anything listens. */
export class ConfigError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "ConfigError";
  }
}
