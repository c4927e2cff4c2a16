import { EventEmitter } from "node:events";
import { Readable } from "node:stream";
import { Status } from "@cloister/core";
import * as grpc from "@grpc/grpc-js";

/**
 * The call objects grpc-js hands a caller, as our own transports (in-process, node:http2) present
 * them: the generated clients' callers (`callUnary`, `for await` over a server stream, "data" /
 * "error" / "status" listeners, `cancel()`) cannot tell them from grpc-js's.
 */

export const status = (code: number, details: string, metadata = new grpc.Metadata()): grpc.StatusObject => ({
  code,
  details,
  metadata,
});

/** The error grpc-js hands a caller for a status: `"<code> <NAME>: <details>"` with code/details/metadata. */
export function callError(s: grpc.StatusObject): grpc.ServiceError {
  return Object.assign(new Error(`${s.code} ${grpc.status[s.code]}: ${s.details}`), s);
}

export const cancelledOnClient = (): grpc.StatusObject => status(Status.CANCELLED, "Cancelled on client");
export const deadlinePassed = (): grpc.StatusObject => status(Status.DEADLINE_EXCEEDED, "Deadline exceeded");

/** setTimeout's range (about 24 days): a later deadline is as good as none. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** When the call's deadline passes (epoch ms), or undefined for none (grpc-js: Infinity is none). */
export function deadlineAt(options: Partial<grpc.CallOptions> | undefined): number | undefined {
  const d = options?.deadline;
  if (d === undefined || d === null) return undefined;
  const at = d instanceof Date ? d.getTime() : Number(d);
  return Number.isFinite(at) ? at : undefined;
}

export type UnaryCallback = (error: grpc.ServiceError | null, response?: unknown) => void;

/** The generated unary method's optional arguments, resolved as grpc-js resolves them. */
export function unaryArguments(
  a: unknown,
  b: unknown,
  c: unknown,
): { metadata: grpc.Metadata; options: Partial<grpc.CallOptions>; callback: UnaryCallback } {
  if (typeof a === "function")
    return { metadata: new grpc.Metadata(), options: {}, callback: a as UnaryCallback };
  if (typeof b === "function")
    return a instanceof grpc.Metadata
      ? { metadata: a, options: {}, callback: b as UnaryCallback }
      : {
          metadata: new grpc.Metadata(),
          options: a as Partial<grpc.CallOptions>,
          callback: b as UnaryCallback,
        };
  if (!(a instanceof grpc.Metadata && b instanceof Object && typeof c === "function"))
    throw new Error("Incorrect arguments passed");
  return { metadata: a, options: b as Partial<grpc.CallOptions>, callback: c as UnaryCallback };
}

/** The generated server-streaming method's optional arguments. */
export function streamArguments(
  a: unknown,
  b: unknown,
): { metadata: grpc.Metadata; options: Partial<grpc.CallOptions> } {
  if (a instanceof grpc.Metadata) return { metadata: a, options: (b ?? {}) as Partial<grpc.CallOptions> };
  return { metadata: new grpc.Metadata(), options: (a ?? {}) as Partial<grpc.CallOptions> };
}

/** What a unary call returns (grpc-js's ClientUnaryCall): `cancel()`, "metadata" and "status" events. */
export class UnaryCallHandle extends EventEmitter {
  constructor(
    private readonly cancelCall: () => void,
    private readonly peer: string,
  ) {
    super();
  }
  cancel(): void {
    this.cancelCall();
  }
  getPeer(): string {
    return this.peer;
  }
  getAuthContext(): null {
    return null;
  }
}

/**
 * A server stream as grpc-js's ClientReadableStream presents it: a Readable of messages (async
 * iterable, "data"/"end"), "metadata" when the response headers arrive, "error" then "status"
 * when it fails or is cancelled, `cancel()`. The transport sets `onCancel` (end the call with
 * CANCELLED) and `onRead` (the reader wants more: resume what backpressure paused).
 */
export class ServerStreamHandle extends Readable {
  onCancel: (() => void) | undefined;
  onRead: (() => void) | undefined;
  private finished = false;

  constructor(private readonly peer: string) {
    super({ objectMode: true });
  }

  cancel(): void {
    this.onCancel?.();
  }
  getPeer(): string {
    return this.peer;
  }
  getAuthContext(): null {
    return null;
  }

  override _read(): void {
    this.onRead?.();
  }

  /** A reader that stopped reading (a `for await` left early) ends the call for the server too. */
  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    this.onCancel?.();
    this.onRead?.();
    callback(err);
  }

  /** Ends the stream with its status: the end of the messages, then "error" (unless OK) and "status". */
  finish(s: grpc.StatusObject): void {
    if (this.finished) return;
    this.finished = true;
    this.push(null);
    // grpc-js emits the failure even to a stream nobody reads any more; a destroyed stream
    // whose reader left has no one to tell (an "error" without a listener would throw).
    if (s.code !== Status.OK && (!this.destroyed || this.listenerCount("error") > 0))
      this.emit("error", callError(s));
    this.emit("status", s);
  }
}
