/** Stable codes of LibOS failures: callers test `code`, never the message. */
export type LibosErrorCode =
  | "unavailable" // the backend cannot run on this host (probe)
  | "image" // a runtime image cannot be built or measured
  | "launch" // an instance did not start
  | "protocol" // the guest broke the protocol
  | "evidence" // attestation or commit evidence did not verify
  | "payload-hash" // the guest saw a payload other than the one offered
  | "limit" // the instance hit a limit (deadline, memory, output size)
  | "payload" // the payload failed (non-zero exit, crash, bad archive)
  | "manifest" // a function manifest is invalid
  | "epc" // the enclave is larger than the node's whole EPC allocation
  | "cancelled";

export class LibosError extends Error {
  constructor(
    readonly code: LibosErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "LibosError";
  }
}

/** The backend cannot run here; raised at node start. There is no fallback to another backend. */
export class LibosUnavailableError extends LibosError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("unavailable", message, options);
    this.name = "LibosUnavailableError";
  }
}

export const isLibosError = (e: unknown, code?: LibosErrorCode): e is LibosError =>
  e instanceof LibosError && (code === undefined || e.code === code);
