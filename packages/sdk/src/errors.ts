import { CloisterError, ERRORS, errorText, Status } from "@cloister/core";

export type EndpointFailure = "attestation" | "unreachable";

/**
 * A call that never reached the platform's code: the endpoint could not be contacted, or it
 * could not prove (by attestation) that it runs the code the client trusts. Code 14
 * (UNAVAILABLE), as gRPC reports both; `failure` (and `kind`) and `reason` say which and why.
 */
export class PlatformEndpointError extends CloisterError {
  readonly failure: EndpointFailure;
  /** e.g. "frontend", "authentication service". */
  readonly service: string;
  readonly address: string;
  readonly reason: string;
  constructor(
    failure: EndpointFailure,
    service: string,
    address: string,
    reason: string,
    options?: { cause?: unknown },
  ) {
    const kind = failure === "attestation" ? "ENDPOINT_ATTESTATION_FAILED" : "ENDPOINT_UNREACHABLE";
    super(ERRORS[kind].code, errorText(kind, { service, address, reason }), { ...options, kind });
    this.name = "PlatformEndpointError";
    this.failure = failure;
    this.service = service;
    this.address = address;
    this.reason = reason;
  }
}

// grpc-js folds a failed connection into "No connection established. Last error: <Error>.
// Resolution note: <…>"; the useful part is the last error.
const LAST_ERROR = /Last error: (?:[A-Za-z]*Error: )?(.*?)(?:\. Resolution note:.*)?$/s;
const ATTESTATION = /attestation rejected: (.*?)(?:\. Resolution note:.*)?$/s;

/**
 * Turns a transport-level UNAVAILABLE into a PlatformEndpointError naming the endpoint; every
 * other error (the platform's own status codes and messages) is returned unchanged.
 */
export function describeCallError(error: unknown, service: string, address: string): unknown {
  if (!(error instanceof CloisterError) || error.code !== Status.UNAVAILABLE) return error;
  const attestation = ATTESTATION.exec(error.message);
  if (attestation)
    return new PlatformEndpointError("attestation", service, address, attestation[1]!, { cause: error });
  const last = LAST_ERROR.exec(error.message);
  if (last) return new PlatformEndpointError("unreachable", service, address, last[1]!, { cause: error });
  return error;
}
