import type { Logger } from "@cloister/core";
import type * as grpc from "@grpc/grpc-js";
import type { RejectedRequest } from "./guard.js";
import type { RpcContext } from "./interceptors.js";

/** Where a server-streaming chain writes its messages (a grpc-js call, or an in-process stream). */
export interface StreamSink {
  /** False when the reader is behind: wait for `drained` before the next write. */
  write(message: unknown): boolean;
  /** Resolves once the reader wants more; rejects when `signal` aborts. */
  drained(signal: AbortSignal): Promise<void>;
}

/**
 * One method as `serve()` composed it, independent of the transport: the admission layers, then
 * the intercept layers, the authorisation layer and the handler. The wire and `localClient` run
 * the same functions.
 */
export interface LocalRoute {
  readonly responseStream: boolean;
  /** Builds the call's context and runs every admission layer on it (throws to refuse). */
  admit(metadata: grpc.Metadata, address: string): Promise<RpcContext>;
  /** Unary methods: the chain down to the handler; resolves with the response. */
  unary(ctx: RpcContext, request: unknown): Promise<unknown>;
  /** Server-streaming methods: the chain down to the pump; ends when the handler's iterable does. */
  stream(ctx: RpcContext, request: unknown, gone: AbortSignal, sink: StreamSink): Promise<unknown>;
  /** Where handler failures the service did not anticipate are logged (serve's log). */
  readonly log: Logger;
}

/** A route with the server's own (guarded) request decoder and response encoder for its path. */
export interface LocalMethod {
  readonly route: LocalRoute;
  readonly decodeRequest: (bytes: Buffer) => unknown | RejectedRequest;
  readonly encodeResponse: (value: unknown) => Buffer;
}
