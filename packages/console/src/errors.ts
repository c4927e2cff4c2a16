// Errors the console's JSON API answers with: a stable code a page can act on, an HTTP status,
// and a message safe to show (never a key, a token or a password).
export type ConsoleErrorCode =
  | "not_signed_in"
  | "forbidden"
  | "csrf"
  | "bad_request"
  | "not_found"
  | "too_large"
  | "platform"
  | "attestation";

const STATUS: Record<ConsoleErrorCode, number> = {
  not_signed_in: 401,
  forbidden: 403,
  csrf: 403,
  bad_request: 400,
  not_found: 404,
  too_large: 413,
  platform: 502,
  attestation: 502,
};

export class ConsoleError extends Error {
  readonly status: number;
  constructor(
    readonly code: ConsoleErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "ConsoleError";
    this.status = STATUS[code];
  }
}

/** The platform did not verify: the console refuses to start against it. */
export class ConsoleAttestationError extends ConsoleError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("attestation", message, options);
    this.name = "ConsoleAttestationError";
  }
}
