import { ERRORS, Status } from "@cloister/core";
import * as grpc from "@grpc/grpc-js";
import {
  callError,
  cancelledOnClient,
  deadlineAt,
  deadlinePassed,
  MAX_TIMER_MS,
  ServerStreamHandle,
  status,
  streamArguments,
  UnaryCallHandle,
  unaryArguments,
} from "./client-calls.js";
import { statusError, toServiceError } from "./errors.js";
import { RejectedRequest } from "./guard.js";
import type { RpcContext } from "./interceptors.js";
import type { LocalMethod, StreamSink } from "./local-route.js";
import type { AttestedServer } from "./server.js";
import { INTERNAL_MAX_MESSAGE_BYTES } from "./tls-params.js";
import type { VerifiedPeerInfo } from "./types.js";

/** What a service sees as the client address of an in-process call (`RpcContext.address`). */
export const IN_PROCESS_ADDRESS = "in-process";

export interface LocalClientOptions {
  /** Largest request sent and response accepted, as `createClient`'s (default: the internal limit). */
  maxMessageBytes?: number;
}

/** A generated grpc-js client constructor with its service definition (ts-proto clients have it). */
export type LocalClientConstructor<C extends grpc.Client> = (new (
  address: string,
  credentials: grpc.ChannelCredentials,
  options?: Partial<grpc.ClientOptions>,
) => C) & { readonly service: grpc.ServiceDefinition };

/** The abort reason of every ended call (one object: an Error per call would cost a stack trace). */
const CALL_ENDED = new Error("the call ended");

type Definition = grpc.MethodDefinition<unknown, unknown>;
type Outcome = grpc.StatusObject & { response?: unknown };

const asStatus = (e: grpc.ServerErrorResponse): grpc.StatusObject =>
  status(e.code ?? Status.INTERNAL, e.details ?? e.message);

/**
 * One in-process call: the server's view of it (cancelled, the stream's abort signal) and the
 * single place where it ends, with exactly one status, whichever of the handler, the caller's
 * cancel, the deadline or a forced shutdown comes first.
 */
class LocalCall {
  /**
   * Made on first use (a stream's handler and ctx.signal read it; unary handlers never do), so a
   * unary call does not create and abort an AbortController it never hands out.
   */
  private controller: AbortController | undefined;
  /** What `ctx.cancelled()` answers: the caller cancelled, the deadline passed, or the server cut it. */
  cancelled = false;
  private ended = false;
  private timer: NodeJS.Timeout | undefined;
  private release: (() => void) | undefined;

  constructor(
    private readonly onEnd: (outcome: Outcome) => void,
    readonly deadline: number | undefined,
  ) {
    const wait = deadline === undefined ? undefined : Math.max(0, deadline - Date.now());
    // Beyond setTimeout's range (about 24 days) a deadline is as good as none.
    if (wait !== undefined && wait <= MAX_TIMER_MS)
      this.timer = setTimeout(() => this.abort(deadlinePassed()), wait);
  }

  get done(): boolean {
    return this.ended;
  }

  /** Aborts (with CALL_ENDED) when the call ends, whoever ends it. */
  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.ended) this.controller.abort(CALL_ENDED);
    }
    return this.controller.signal;
  }

  holds(release: () => void): void {
    this.release = release;
  }

  end(outcome: Outcome): void {
    if (this.ended) return;
    this.ended = true;
    if (this.timer) clearTimeout(this.timer);
    this.release?.();
    this.controller?.abort(CALL_ENDED);
    this.onEnd(outcome);
  }

  /** Ends the call for the server too: `ctx.cancelled()` is true and a stream's signal aborts. */
  abort(outcome: Outcome): void {
    if (this.ended) return;
    this.cancelled = true;
    this.end(outcome);
  }
}

/**
 * The server half shared by unary and streaming calls, in the wire's order: the call cap and
 * shutdown state, the method, admission (before the message is read), the message limit, the
 * guarded decoder (3 before the handler). Resolves with the call's context and decoded request,
 * or undefined once the call has ended.
 */
async function begin(
  server: AttestedServer,
  def: Definition,
  request: unknown,
  metadata: grpc.Metadata,
  caller: VerifiedPeerInfo,
  maxMessageBytes: number,
  call: LocalCall,
): Promise<{ method: LocalMethod; ctx: RpcContext; request: unknown } | undefined> {
  // A deadline already past never reaches the server (grpc-js sends nothing either).
  if (call.deadline !== undefined && call.deadline <= Date.now()) {
    call.abort(deadlinePassed());
    return undefined;
  }
  let bytes: Buffer;
  try {
    bytes = def.requestSerialize(request);
  } catch (e) {
    call.end(status(Status.INTERNAL, `Request message serialization failure: ${(e as Error).message}`));
    return undefined;
  }
  if (bytes.length > maxMessageBytes) {
    call.end(
      status(
        Status.RESOURCE_EXHAUSTED,
        `Attempted to send message with a size larger than ${maxMessageBytes}`,
      ),
    );
    return undefined;
  }
  const opened = server.openLocalCall(() =>
    call.abort(status(Status.UNAVAILABLE, "the in-process endpoint shut down")),
  );
  if ("refused" in opened) {
    if (opened.refused === "busy") call.end(status(ERRORS.TOO_MANY_CALLS.code, ERRORS.TOO_MANY_CALLS.text));
    // Like a channel whose server is gone: wait-for-ready calls wait (for their deadline).
    else if (!metadata.getOptions().waitForReady)
      call.end(status(Status.UNAVAILABLE, "No connection established: the in-process endpoint is closed"));
    return undefined;
  }
  call.holds(opened.release);
  const method = server.localMethod(def.path);
  if (!method || method.route.responseStream !== def.responseStream) {
    call.end(status(Status.UNIMPLEMENTED, `The server does not implement the method ${def.path}`));
    return undefined;
  }
  const md = metadata.clone();
  md.setOptions({});
  let ctx: RpcContext;
  try {
    ctx = await method.route.admit(md, IN_PROCESS_ADDRESS);
  } catch (e) {
    call.end(asStatus(toServiceError(e, method.route.log)));
    return undefined;
  }
  if (call.done) return undefined;
  const { receive } = server.messageLimits();
  if (bytes.length > receive) {
    call.end(
      status(Status.RESOURCE_EXHAUSTED, `Received message larger than max (${bytes.length} vs ${receive})`),
    );
    return undefined;
  }
  const decoded = method.decodeRequest(bytes);
  if (decoded instanceof RejectedRequest) {
    call.end(asStatus(statusError(Status.INVALID_ARGUMENT, decoded.reason)));
    return undefined;
  }
  ctx.peer = caller;
  ctx.cancelled = () => call.cancelled;
  if (call.deadline !== undefined) ctx.deadlineMs = Math.max(0, call.deadline - Date.now());
  return { method, ctx, request: decoded };
}

/** A response or stream message as the caller receives it: encoded by the server, decoded by the client. */
function transfer(
  server: AttestedServer,
  method: LocalMethod,
  def: Definition,
  value: unknown,
  maxMessageBytes: number,
): { message: unknown } | { failure: grpc.StatusObject } {
  let bytes: Buffer;
  try {
    bytes = method.encodeResponse(value);
  } catch (e) {
    return { failure: asStatus(toServiceError(e, method.route.log)) };
  }
  const { send } = server.messageLimits();
  // grpc-js counts its 5-byte message prefix in this one.
  if (bytes.length > send)
    return {
      failure: status(
        Status.RESOURCE_EXHAUSTED,
        `Sent message larger than max (${bytes.length + 5} vs. ${send})`,
      ),
    };
  if (bytes.length > maxMessageBytes)
    return {
      failure: status(
        Status.RESOURCE_EXHAUSTED,
        `Received message larger than max (${bytes.length} vs ${maxMessageBytes})`,
      ),
    };
  try {
    return { message: def.responseDeserialize(bytes) };
  } catch {
    return { failure: status(Status.INTERNAL, "Failed to parse server response") };
  }
}

/**
 * The shared server-stream shape fed by the handler's sink: its buffer is the Readable's
 * high-water mark, and the handler's pump waits while the reader is behind.
 */
class LocalReadableStream extends ServerStreamHandle {
  call: LocalCall | undefined;
  private wanted: (() => void) | undefined;

  constructor() {
    super(IN_PROCESS_ADDRESS);
    this.onCancel = () => this.call?.abort(cancelledOnClient());
    this.onRead = () => this.wake();
  }

  private wake(): void {
    const wake = this.wanted;
    this.wanted = undefined;
    wake?.();
  }

  sink(deliver: (value: unknown) => { message: unknown } | { failure: grpc.StatusObject }): StreamSink {
    return {
      write: (value) => {
        const call = this.call;
        if (!call || call.done) return false;
        const out = deliver(value);
        if ("failure" in out) {
          call.abort(out.failure);
          return false;
        }
        return this.push(out.message);
      },
      drained: (signal) =>
        new Promise<void>((resolve, reject) => {
          if (signal.aborted) return reject(signal.reason);
          if (this.readableLength < this.readableHighWaterMark) return resolve();
          const onAbort = () => reject(signal.reason);
          signal.addEventListener("abort", onAbort, { once: true });
          this.wanted = () => {
            signal.removeEventListener("abort", onAbort);
            if (signal.aborted) reject(signal.reason);
            else resolve();
          };
        }),
    };
  }
}

function unaryMethod(server: AttestedServer, def: Definition, caller: VerifiedPeerInfo, max: number) {
  return (request: unknown, a?: unknown, b?: unknown, c?: unknown): UnaryCallHandle => {
    const { metadata, options, callback } = unaryArguments(a, b, c);
    let emitter: UnaryCallHandle | undefined;
    const started = process.hrtime.bigint();
    const call = new LocalCall((outcome) => {
      const { response, ...s } = outcome;
      server.localCallEnded(def.path, s.code, started);
      // Always after the method returned, as grpc-js does.
      queueMicrotask(() => {
        if (s.code === Status.OK) callback(null, response);
        else callback(callError(s));
        emitter?.emit("status", s);
      });
    }, deadlineAt(options));
    emitter = new UnaryCallHandle(() => call.abort(cancelledOnClient()), IN_PROCESS_ADDRESS);
    void (async () => {
      const started = await begin(server, def, request, metadata, caller, max, call);
      if (!started) return;
      const { method, ctx } = started;
      let response: unknown;
      try {
        response = await method.route.unary(ctx, started.request);
      } catch (e) {
        call.end(asStatus(toServiceError(e, method.route.log)));
        return;
      }
      if (call.done) return;
      const out = transfer(server, method, def, response, max);
      if ("failure" in out) call.end(out.failure);
      else call.end({ ...status(Status.OK, "OK"), response: out.message });
    })();
    return emitter;
  };
}

function streamMethod(server: AttestedServer, def: Definition, caller: VerifiedPeerInfo, max: number) {
  return (request: unknown, a?: unknown, b?: unknown): LocalReadableStream => {
    const { metadata, options } = streamArguments(a, b);
    const stream = new LocalReadableStream();
    // The status follows the messages, as trailers follow data frames: a reader that is keeping
    // up (flowing from the next tick) gets every message before "error" or "end".
    const startedNs = process.hrtime.bigint();
    const call = new LocalCall((outcome) => {
      server.localCallEnded(def.path, outcome.code, startedNs);
      setImmediate(() => stream.finish(outcome));
    }, deadlineAt(options));
    stream.call = call;
    void (async () => {
      const started = await begin(server, def, request, metadata, caller, max, call);
      if (!started) return;
      const { method, ctx } = started;
      ctx.signal = call.signal;
      stream.emit("metadata", new grpc.Metadata());
      const sink = stream.sink((value) => transfer(server, method, def, value, max));
      try {
        await method.route.stream(ctx, started.request, call.signal, sink);
        call.end(status(Status.OK, "OK"));
      } catch (e) {
        if (!call.done) call.end(asStatus(toServiceError(e, method.route.log)));
      }
    })();
    return stream;
  };
}

/**
 * A client for the services `server` registered with `serve()`, calling them in this process:
 * usable wherever the generated grpc-js client is (`callUnary`, server streams), through the
 * same admission, layers, policy, request guard, limits and error mapping as the wire, without
 * TLS, HTTP/2 or grpc-js. `caller` is what the server's layers see as the attested peer
 * (`ctx.peer`): build one only for a caller the endpoint's connection check would admit.
 */
export function localClient<C extends grpc.Client>(
  Client: LocalClientConstructor<C>,
  server: AttestedServer,
  caller: VerifiedPeerInfo,
  opts: LocalClientOptions = {},
): C {
  const max = opts.maxMessageBytes ?? INTERNAL_MAX_MESSAGE_BYTES;
  const peer: VerifiedPeerInfo = Object.freeze({ ...caller });
  // The generated prototype keeps `instanceof` true; every method it would send on a channel is
  // shadowed below, and the channel it would use does not exist.
  const client: C = Object.create(Client.prototype);
  const own: Record<string, unknown> = {
    close: () => undefined,
    getChannel: () => {
      throw new Error("an in-process client has no channel");
    },
    waitForReady: (_deadline: grpc.Deadline, callback: (error?: Error) => void) => setImmediate(callback),
  };
  for (const [name, def] of Object.entries(Client.service) as [string, Definition][]) {
    const method = def.requestStream
      ? () => {
          throw new Error(`${def.path}: client-streaming methods have no in-process transport`);
        }
      : def.responseStream
        ? streamMethod(server, def, peer, max)
        : unaryMethod(server, def, peer, max);
    own[name] = method;
    if (def.originalName) own[def.originalName] = method;
  }
  return Object.assign(client, own);
}
