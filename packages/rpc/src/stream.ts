import { once } from "node:events";
import type { Logger } from "@cloister/core";
import type * as grpc from "@grpc/grpc-js";
import { toServiceError } from "./errors.js";

/**
 * A server-streaming handler written as an async generator: each yielded message is sent (with
 * back-pressure), returning ends the stream with OK, a throw ends it with the error's status
 * (`toServiceError`). `signal` aborts when the client cancels or hangs up.
 */
export type ServerStreamHandler<Req, Res> = (
  request: Req,
  call: grpc.ServerWritableStream<Req, Res>,
  signal: AbortSignal,
) => AsyncIterable<Res>;

export function serverStream<Req, Res>(
  handler: ServerStreamHandler<Req, Res>,
  logger?: Logger,
): grpc.handleServerStreamingCall<Req, Res> {
  return (call) => {
    const gone = new AbortController();
    call.once("cancelled", () => gone.abort(new Error("the client cancelled the call")));
    (async () => {
      for await (const message of handler(call.request, call, gone.signal)) {
        if (gone.signal.aborted) return;
        if (!call.write(message)) await once(call, "drain", { signal: gone.signal });
      }
      if (!gone.signal.aborted) call.end();
    })().catch((err: unknown) => {
      if (gone.signal.aborted) return;
      call.emit("error", toServiceError(err, logger));
    });
  };
}

/**
 * Reads a server stream as an async iterable; a failed call rejects with the grpc-js error
 * (callers convert it with toRpcError). Breaking out of the loop cancels the call.
 */
export async function* readStream<Res>(stream: grpc.ClientReadableStream<Res>): AsyncGenerator<Res> {
  try {
    for await (const message of stream) yield message as Res;
  } finally {
    stream.cancel();
  }
}
