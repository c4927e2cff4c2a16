import { CloisterError, createLogger, ERRORS, type Logger, Status } from "@cloister/core";
import type * as grpc from "@grpc/grpc-js";

/** The only text a client sees for a failure the service did not anticipate. */
export const INTERNAL_ERROR_MESSAGE: string = ERRORS.INTERNAL.text;

let defaultLogger: Logger | undefined;
const fallbackLogger = (): Logger => {
  defaultLogger ??= createLogger("rpc");
  return defaultLogger;
};

/**
 * Maps a handler failure to the status sent on the wire. A CloisterError carries its own code and
 * spec text; anything else is a bug or an infrastructure failure whose text may hold secrets or
 * internals, so the client gets INTERNAL "service internal error" and the real error goes to the
 * log only.
 */
export function toServiceError(err: unknown, logger?: Logger): grpc.ServerErrorResponse {
  if (err instanceof CloisterError && err.code !== Status.OK) {
    return statusError(err.code, err.message);
  }
  (logger ?? fallbackLogger()).error({ err }, "unexpected error in service handler");
  return statusError(Status.INTERNAL, INTERNAL_ERROR_MESSAGE);
}

/**
 * Longest status message sent, in bytes: a message echoing a client's field could otherwise grow
 * past the peer's header-list limit, and the client would then see no grpc-status at all.
 */
export const MAX_STATUS_MESSAGE_BYTES = 1024;

export function statusError(code: number, message: string): grpc.ServerErrorResponse {
  // grpc-js percent-encodes the message with encodeURI, which throws on lone surrogates; a
  // UTF-8 round trip replaces them with U+FFFD.
  let details = Buffer.from(message, "utf8").toString("utf8");
  if (Buffer.byteLength(details) > MAX_STATUS_MESSAGE_BYTES) {
    // Cut on a character boundary (a cut code point would decode as U+FFFD, which is fine).
    details = `${Buffer.from(details, "utf8").subarray(0, MAX_STATUS_MESSAGE_BYTES).toString("utf8")}…`;
  }
  return Object.assign(new Error(details), { code, details });
}

/** A unary handler written as a plain async function. */
export type UnaryHandler<Req, Res> = (
  request: Req,
  call: grpc.ServerUnaryCall<Req, Res>,
) => Promise<Res> | Res;

/**
 * Adapts `async (request, call) => response` to grpc-js's callback style; thrown errors become
 * statuses through `toServiceError`. Errors are always sent before any response header, so
 * grpc-js answers with a trailers-only response.
 */
export function unary<Req, Res>(
  handler: UnaryHandler<Req, Res>,
  logger?: Logger,
): grpc.handleUnaryCall<Req, Res> {
  return (call, callback) => {
    let result: Promise<Res>;
    try {
      result = Promise.resolve(handler(call.request, call));
    } catch (err) {
      result = Promise.reject(err);
    }
    result.then(
      (response) => callback(null, response),
      (err: unknown) => callback(toServiceError(err, logger)),
    );
  };
}
