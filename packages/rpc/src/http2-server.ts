import { once } from "node:events";
import * as http2 from "node:http2";
import type { TLSSocket } from "node:tls";
import { ERRORS, type Logger, Status } from "@cloister/core";
import * as grpc from "@grpc/grpc-js";
import type { ConnectionLimiter } from "./connections.js";
import { statusError, toServiceError } from "./errors.js";
import { RejectedRequest } from "./guard.js";
import { frameMessage, MessageReader } from "./http2-framing.js";
import type { RpcContext } from "./interceptors.js";
import type { LocalRoute, StreamSink } from "./local-route.js";
import { socketPeer } from "./peer.js";
import type { Admission } from "./server.js";
import { type RawCall, rawServerStreamCall, rawUnaryCall, statusOfServerError } from "./server-calls.js";
import type { VerifiedPeerInfo } from "./types.js";

/** Told of every call as it ends: its path, status code and duration (RPC metrics). */
export type CallObserver = (path: string, code: number, seconds: number) => void;

/** One method as our HTTP/2 server runs it. */
export interface WireMethod {
  readonly path: string;
  readonly responseStream: boolean;
  /** The endpoint's guarded request decoder (never throws: a RejectedRequest instead). */
  readonly decode: (bytes: Buffer) => unknown;
  readonly encode: (value: unknown) => Buffer;
  /** Registered with serve(): the composed chain runs directly, with no grpc-js-shaped call. */
  readonly route?: LocalRoute | undefined;
  /** Registered with a bare addService(): a grpc-js-style handler, given a call of the same shape. */
  readonly handler?: ((call: never, callback?: never) => void) | undefined;
  readonly admit?: Admission | undefined;
}

export interface WireServerOptions {
  readonly methods: ReadonlyMap<string, WireMethod>;
  readonly receiveBytes: number;
  readonly sendBytes: number;
  readonly maxConcurrentStreams: number;
  /** API endpoints: a connection without calls this long is closed (GOAWAY). */
  readonly idleConnectionMs?: number | undefined;
  readonly limiter: ConnectionLimiter;
  readonly log: Logger;
  readonly observers: readonly CallObserver[];
}

const {
  HTTP2_HEADER_STATUS,
  HTTP2_HEADER_CONTENT_TYPE,
  HTTP2_HEADER_PATH,
  HTTP_STATUS_OK,
  HTTP_STATUS_UNSUPPORTED_MEDIA_TYPE,
  NGHTTP2_CANCEL,
} = http2.constants;

/** Headers of the transport, not the caller's metadata (grpc-js strips the same ones). */
const RESERVED = new Set([
  "grpc-timeout",
  "grpc-encoding",
  "grpc-accept-encoding",
  "accept-encoding",
  "te",
  "content-type",
]);

/** We decompress nothing, so we say so (grpc-js advertises deflate and gzip it may not need). */
const RESPONSE_HEADERS: http2.OutgoingHttpHeaders = {
  [HTTP2_HEADER_STATUS]: HTTP_STATUS_OK,
  [HTTP2_HEADER_CONTENT_TYPE]: "application/grpc+proto",
  "grpc-accept-encoding": "identity",
  "grpc-encoding": "identity",
};
const WITH_TRAILERS = { waitForTrailers: true } as const;
const END_STREAM = { endStream: true } as const;
const OK_TRAILERS: http2.OutgoingHttpHeaders = { "grpc-status": "0", "grpc-message": "OK" };

const TIMEOUT = /^(\d{1,8})\s*([HMSmun])$/;
const UNIT_MS: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 0.001, n: 0.000_001 };
/** setTimeout's range (about 24 days): a later deadline gets no timer. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** The abort reason of every call whose client went away (one shared error: no stack per call). */
const CLIENT_GONE = new Error("the client went away");

/**
 * grpc-message: percent-encoded, cut to MAX_STATUS_MESSAGE_BYTES and without lone surrogates
 * (statusError), since some texts echo what the peer sent (an encoding name).
 */
function encodeMessage(details: string): string {
  try {
    if (details.length <= 256) return encodeURI(details);
  } catch {}
  return encodeURI(statusError(0, details).details ?? "");
}

/** Metadata from request headers; an invalid entry is dropped without logging its value. */
function metadataOf(headers: http2.IncomingHttpHeaders): grpc.Metadata {
  const metadata = new grpc.Metadata();
  for (const key in headers) {
    if (key.charCodeAt(0) === 58 /* ":" */ || RESERVED.has(key)) continue;
    const value = headers[key];
    if (value === undefined) continue;
    try {
      if (key.endsWith("-bin")) {
        for (const v of Array.isArray(value) ? value : value.split(","))
          metadata.add(key, Buffer.from(v.trim(), "base64"));
      } else if (Array.isArray(value)) for (const v of value) metadata.add(key, v);
      else metadata.add(key, value);
    } catch {
      // grpc-js logs such entries with their value; a value may be a credential.
    }
  }
  return metadata;
}

/** Per connection; `socket` is the TLS socket itself (a session's `socket` is a proxy of it). */
export interface SessionState {
  readonly socket: TLSSocket;
  readonly address: string;
  readonly peer: VerifiedPeerInfo | undefined;
  active: number;
  idle: NodeJS.Timeout | undefined;
}

/**
 * A gRPC server on `node:http2` for the sockets AttestedServer has already verified: the
 * HTTP/2 session is created on the decrypted socket, and each stream is one call (gRPC over
 * HTTP/2 as the protocol document defines it, with grpc-js's statuses and texts).
 */
export class WireServer {
  private readonly h2: http2.Http2Server;
  private readonly sessions = new Map<http2.ServerHttp2Session, SessionState>();
  private closing = false;
  /** The socket being injected: Node creates its session synchronously inside emit(). */
  private injecting: TLSSocket | undefined;

  constructor(readonly opts: WireServerOptions) {
    this.h2 = http2.createServer({
      settings: { maxConcurrentStreams: opts.maxConcurrentStreams },
      // Node refuses new streams once a session holds this much; our own caps bound what a
      // session holds (calls × message limits), and grpc-js lifts Node's 10 MB for the same
      // reason: large messages made the limit refuse healthy peers.
      maxSessionMemory: Number.MAX_SAFE_INTEGER,
    });
    this.h2.setTimeout(0);
    this.h2.on("session", (session: http2.ServerHttp2Session) => this.onSession(session));
    this.h2.on("stream", (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) =>
      this.onStream(stream, headers),
    );
  }

  /** Starts HTTP/2 on an admitted, verified socket (its preface already waits in it). */
  inject(socket: TLSSocket): void {
    this.injecting = socket;
    try {
      this.h2.emit("connection", socket);
    } finally {
      this.injecting = undefined;
    }
  }

  private onSession(session: http2.ServerHttp2Session): void {
    const socket = this.injecting;
    if (this.closing || !socket) {
      session.destroy();
      return;
    }
    const state: SessionState = {
      socket,
      address: socket.remoteAddress ?? "",
      peer: socketPeer(socket),
      active: 0,
      idle: undefined,
    };
    this.sessions.set(session, state);
    session.on("error", (err) => this.opts.log.debug({ err: err.message }, "HTTP/2 session error"));
    session.once("close", () => {
      if (state.idle) clearTimeout(state.idle);
      this.sessions.delete(session);
    });
    this.armIdle(session, state);
  }

  private armIdle(session: http2.ServerHttp2Session, state: SessionState): void {
    const ms = this.opts.idleConnectionMs;
    if (ms === undefined || state.active > 0) return;
    state.idle = setTimeout(() => {
      state.idle = undefined;
      if (state.active === 0 && !session.closed) session.close();
    }, ms);
    state.idle.unref();
  }

  private onStream(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void {
    // Errors on a stream always come with its close, which is where a call learns of them.
    stream.on("error", noop);
    const session = stream.session as http2.ServerHttp2Session | undefined;
    const state = session ? this.sessions.get(session) : undefined;
    if (!state || !session) {
      stream.close(NGHTTP2_CANCEL);
      return;
    }
    state.active++;
    if (state.idle) {
      clearTimeout(state.idle);
      state.idle = undefined;
    }
    stream.once("close", () => {
      state.active--;
      this.armIdle(session, state);
    });
    const contentType = headers[HTTP2_HEADER_CONTENT_TYPE];
    if (typeof contentType !== "string" || !contentType.startsWith("application/grpc")) {
      stream.respond({ [HTTP2_HEADER_STATUS]: HTTP_STATUS_UNSUPPORTED_MEDIA_TYPE }, END_STREAM);
      return;
    }
    const path = String(headers[HTTP2_HEADER_PATH] ?? "");
    const method = this.opts.methods.get(path);
    if (!method) {
      respondStatus(stream, Status.UNIMPLEMENTED, `The server does not implement the method ${path}`);
      return;
    }
    new WireCall(this, state, stream, headers, method).start();
  }

  /**
   * GOAWAY to every session, so calls in progress finish and no new one starts; after the grace
   * period, the sessions left are destroyed (their calls see a cancel).
   */
  async close(graceMs: number): Promise<void> {
    this.closing = true;
    const open = [...this.sessions.keys()];
    if (open.length === 0) return;
    const closed = Promise.all(open.map((s) => (s.closed ? undefined : once(s, "close").catch(noop))));
    for (const s of open) if (!s.closed) s.close();
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, graceMs);
    });
    await Promise.race([closed, grace]);
    clearTimeout(timer);
    for (const s of this.sessions.keys()) s.destroy(undefined, NGHTTP2_CANCEL);
  }
}

function noop(): void {}

/** A trailers-only response: one HEADERS frame with END_STREAM carrying the status. */
function respondStatus(
  stream: http2.ServerHttp2Stream,
  code: number,
  details: string,
  trailers?: http2.OutgoingHttpHeaders,
): void {
  if (stream.destroyed || stream.headersSent) return;
  stream.respond(
    {
      [HTTP2_HEADER_STATUS]: HTTP_STATUS_OK,
      [HTTP2_HEADER_CONTENT_TYPE]: "application/grpc+proto",
      "grpc-status": String(code),
      "grpc-message": encodeMessage(details),
      ...trailers,
    },
    END_STREAM,
  );
}

const serverFlagFailure = (encoding: string) => (flag: number) =>
  flag === 1
    ? {
        code: Status.UNIMPLEMENTED,
        details: `Received message compressed with unsupported encoding "${encoding}"`,
        metadata: new grpc.Metadata(),
      }
    : {
        code: Status.INTERNAL,
        details: `Received a message with an invalid flag byte ${flag}`,
        metadata: new grpc.Metadata(),
      };

/** One call: one HTTP/2 stream from its headers to its status. */
export class WireCall {
  readonly socket: TLSSocket;
  readonly metadata: grpc.Metadata;
  /** Epoch ms, or Infinity (grpc-js's getDeadline()). */
  deadline = Number.POSITIVE_INFINITY;
  cancelled = false;
  private done = false;
  private release: (() => void) | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly started = performance.now();
  private request: Buffer | undefined;
  private requests = 0;
  private ctx: RpcContext | undefined;
  private gone: AbortController | undefined;
  /** Set for addService() handlers: the grpc-js-shaped call they were given. */
  private raw: RawCall | undefined;
  private headerMetadata: grpc.Metadata | undefined;
  /**
   * The request's END_STREAM: listened for from the start, since Node emits no "end" for a
   * stream that ended empty before anyone read it (no body byte is read by listening).
   */
  private inputEnded = false;
  private onInputEnd: (() => void) | undefined;

  constructor(
    private readonly server: WireServer,
    private readonly session: SessionState,
    readonly stream: http2.ServerHttp2Stream,
    private readonly headers: http2.IncomingHttpHeaders,
    readonly method: WireMethod,
  ) {
    this.socket = session.socket;
    this.metadata = metadataOf(headers);
  }

  get path(): string {
    return this.method.path;
  }

  get peer(): VerifiedPeerInfo | undefined {
    return this.session.peer;
  }

  get authority(): string {
    return this.headers[":authority"] ?? "";
  }

  get address(): string {
    return this.session.address;
  }

  start(): void {
    const { stream, headers } = this;
    stream.once("close", () => this.onClose());
    stream.once("end", () => {
      this.inputEnded = true;
      this.onInputEnd?.();
    });
    const timeout = headers["grpc-timeout"];
    if (typeof timeout === "string") {
      const m = TIMEOUT.exec(timeout);
      if (!m) {
        this.sendStatus(Status.INTERNAL, `Invalid grpc-timeout value "${timeout}"`);
        return;
      }
      const ms = Number(m[1]) * (UNIT_MS[m[2] as string] as number);
      this.deadline = Date.now() + ms;
      if (ms <= MAX_TIMER_MS)
        this.timer = setTimeout(() => {
          this.timer = undefined;
          this.sendStatus(Status.DEADLINE_EXCEEDED, "Deadline exceeded");
          this.cancel();
        }, ms);
    }
    this.release = this.server.opts.limiter.startCall(this.address);
    if (!this.release) {
      this.sendStatus(ERRORS.TOO_MANY_CALLS.code, ERRORS.TOO_MANY_CALLS.text);
      return;
    }
    const { route, admit } = this.method;
    if (route) {
      route.admit(this.metadata, this.address).then(
        (ctx) => {
          this.ctx = ctx;
          this.read();
        },
        (err: unknown) => this.fail(err, route.log),
      );
    } else if (admit) {
      admit({ path: this.path, metadata: this.metadata, peer: this.address }).then(
        () => this.read(),
        (err: unknown) => this.fail(err, this.server.opts.log),
      );
    } else this.read();
  }

  /** Only now is the body read: before, HTTP/2 flow control bounds what the peer can push. */
  private read(): void {
    if (this.done) return;
    const encoding = this.headers["grpc-encoding"];
    const reader = new MessageReader(
      this.server.opts.receiveBytes,
      serverFlagFailure(typeof encoding === "string" ? encoding : "identity"),
    );
    const onMessage = (message: Buffer) => {
      this.requests++;
      if (this.requests === 1) this.request = message;
    };
    this.stream.on("data", (chunk: Buffer) => {
      if (this.done) return;
      const failure = reader.write(chunk, onMessage);
      if (failure) this.sendStatus(failure.code, failure.details);
      else if (this.requests > 1)
        this.sendStatus(
          Status.UNIMPLEMENTED,
          `Received a second request message for server streaming method ${this.path}`,
        );
    });
    this.onInputEnd = () => {
      if (this.done) return;
      const request = this.request;
      if (!request) {
        this.sendStatus(
          Status.UNIMPLEMENTED,
          `Received no request message for server streaming method ${this.path}`,
        );
        return;
      }
      this.request = undefined;
      this.dispatch(this.method.decode(request));
    };
    if (this.inputEnded) this.onInputEnd();
  }

  private dispatch(request: unknown): void {
    const { route, handler, responseStream } = this.method;
    if (route) {
      if (request instanceof RejectedRequest) {
        this.sendStatus(
          Status.INVALID_ARGUMENT,
          statusError(Status.INVALID_ARGUMENT, request.reason).details ?? "",
        );
        return;
      }
      const ctx = this.ctx as RpcContext;
      ctx.peer = this.peer;
      ctx.cancelled = () => this.cancelled;
      if (Number.isFinite(this.deadline)) ctx.deadlineMs = Math.max(0, this.deadline - Date.now());
      if (!responseStream) {
        route.unary(ctx, request).then(
          (response) => this.respond(response),
          (err: unknown) => this.fail(err, route.log),
        );
        return;
      }
      const gone = new AbortController();
      this.gone = gone;
      ctx.signal = gone.signal;
      const sink: StreamSink = {
        write: (message) => this.write(message),
        drained: async (signal) => {
          await once(this.stream, "drain", { signal });
        },
      };
      route.stream(ctx, request, gone.signal, sink).then(
        () => {
          if (!gone.signal.aborted) this.sendStatus(Status.OK, "OK");
        },
        (err: unknown) => {
          if (!gone.signal.aborted) this.fail(err, route.log);
        },
      );
      return;
    }
    if (!handler) return;
    try {
      if (responseStream) {
        const call = rawServerStreamCall(this, request);
        this.raw = call;
        (handler as (call: unknown) => void)(call);
      } else {
        const call = rawUnaryCall(this, request);
        this.raw = call;
        (handler as (call: unknown, callback: unknown) => void)(
          call,
          (err: unknown, value?: unknown, trailer?: grpc.Metadata) => {
            if (err) {
              const s = statusOfServerError(err, trailer);
              this.sendStatus(s.code, s.details, s.metadata);
            } else this.respond(value, trailer);
          },
        );
      }
    } catch {
      this.sendStatus(Status.UNKNOWN, "Unknown error");
    }
  }

  private fail(err: unknown, log: Logger): void {
    const e = toServiceError(err, log);
    this.sendStatus(e.code ?? Status.INTERNAL, e.details ?? "");
  }

  /** Response headers with the handler's metadata (addService handlers' sendMetadata). */
  sendMetadata(metadata: grpc.Metadata): void {
    if (this.done || this.stream.headersSent) return;
    this.headerMetadata = metadata;
  }

  private encode(value: unknown): Buffer | undefined {
    let bytes: Buffer;
    try {
      bytes = this.method.encode(value);
    } catch {
      this.sendStatus(Status.INTERNAL, "Error serializing response");
      return undefined;
    }
    const max = this.server.opts.sendBytes;
    if (bytes.length > max) {
      this.sendStatus(
        Status.RESOURCE_EXHAUSTED,
        `Sent message larger than max (${bytes.length + 5} vs. ${max})`,
      );
      return undefined;
    }
    return frameMessage(bytes);
  }

  private respondHeaders(): void {
    if (this.stream.headersSent) return;
    const custom = this.headerMetadata?.toHttp2Headers();
    this.stream.respond(custom ? { ...RESPONSE_HEADERS, ...custom } : RESPONSE_HEADERS, WITH_TRAILERS);
  }

  /** One unary response then status OK (with the handler's trailing metadata, if any). */
  private respond(value: unknown, trailer?: grpc.Metadata): void {
    if (this.done) return;
    const out = this.encode(value);
    if (!out) return;
    this.respondHeaders();
    this.finish(Status.OK, "OK", trailer, out);
  }

  /** One message of a server stream: false when the peer is behind (wait for "drain"). */
  write(value: unknown): boolean {
    if (this.done) return false;
    const out = this.encode(value);
    if (!out) return false;
    this.respondHeaders();
    return this.stream.write(out);
  }

  /** Ends the call with a status: trailers-only when nothing was sent yet, else in trailers. */
  sendStatus(code: number, details: string, metadata?: grpc.Metadata | null): void {
    if (this.done) return;
    if (!this.stream.headersSent) {
      this.end(code);
      if (!this.stream.destroyed) respondStatus(this.stream, code, details, metadata?.toHttp2Headers());
      this.discardInput();
      return;
    }
    this.finish(code, details, metadata ?? undefined);
  }

  private finish(code: number, details: string, metadata?: grpc.Metadata, last?: Buffer): void {
    this.end(code);
    const stream = this.stream;
    if (stream.destroyed) return;
    const trailers =
      code === Status.OK && !metadata
        ? OK_TRAILERS
        : {
            "grpc-status": String(code),
            "grpc-message": encodeMessage(details),
            ...metadata?.toHttp2Headers(),
          };
    stream.once("wantTrailers", () => {
      if (!stream.destroyed) stream.sendTrailers(trailers);
    });
    if (last) stream.end(last);
    else stream.end();
    this.discardInput();
  }

  /**
   * After the status, what is left of the request is dropped as it comes (grpc-js does the same):
   * a peer still pushing a body it was refused otherwise waits on a window that never opens,
   * and Node's client then never learns the stream ended. Node resets such a stream (NO_ERROR)
   * once our side is done, so little more arrives.
   */
  private discardInput(): void {
    if (!this.inputEnded && !this.stream.destroyed) this.stream.resume();
  }

  /** The call is over for us: the caps and timers let go, the observers told. */
  private end(code: number): void {
    this.done = true;
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    this.release?.();
    this.release = undefined;
    const observers = this.server.opts.observers;
    if (observers.length > 0) {
      const seconds = (performance.now() - this.started) / 1e3;
      for (const observe of observers) observe(this.path, code, seconds);
    }
  }

  /** The handler learns the call is over (client gone, deadline, shutdown). */
  private cancel(): void {
    if (this.cancelled) return;
    this.cancelled = true;
    this.gone?.abort(CLIENT_GONE);
    this.raw?.emit("cancelled", "cancelled");
  }

  private onClose(): void {
    if (!this.done) {
      this.end(Status.CANCELLED);
      this.cancel();
    }
    this.raw?.emit("close");
  }
}
