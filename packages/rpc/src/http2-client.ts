import * as http2 from "node:http2";
import { Status } from "@cloister/core";
import * as grpc from "@grpc/grpc-js";
import type { AttestedChannelCredentials } from "./channel.js";
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
import {
  acquireConnection,
  type Connection,
  type ConnectionOptions,
  type LiveSession,
  SHUT_DOWN,
} from "./http2-connection.js";
import {
  frameMessage,
  MessageReader,
  statusOfHttp,
  statusOfTrailers,
  timeoutHeader,
} from "./http2-framing.js";

export interface Http2ClientOptions extends ConnectionOptions {
  /** Largest request message sent (grpc-js: grpc.max_send_message_length). */
  maxSendBytes: number;
  /** Largest response message accepted (grpc-js: grpc.max_receive_message_length). */
  maxReceiveBytes: number;
}

/** A generated client constructor with its service definition (ts-proto clients have it). */
export type ServiceClientConstructor<C extends grpc.Client> = (new (
  address: string,
  credentials: grpc.ChannelCredentials,
  options?: Partial<grpc.ClientOptions>,
) => C) & { readonly service: grpc.ServiceDefinition };

const USER_AGENT = "cloister-rpc-http2/0.1";
const { NGHTTP2_CANCEL, NGHTTP2_REFUSED_STREAM, NGHTTP2_ENHANCE_YOUR_CALM, NGHTTP2_INADEQUATE_SECURITY } =
  http2.constants;
const END_STREAM = http2.constants.NGHTTP2_FLAG_END_STREAM;

type Serialize = (value: unknown) => Buffer;
type Deserialize = (bytes: Buffer) => unknown;

/** What a call reports to its caller-facing object (unary callback or server stream). */
interface Sink {
  metadata(headers: http2.IncomingHttpHeaders): void;
  /** One response message; a failure (undecodable, one too many) ends the call with it. */
  message(bytes: Buffer): grpc.StatusObject | undefined;
  /** Whether an OK status needs its trailing metadata (someone listens to "status"). */
  wantsTrailers(): boolean;
  end(s: grpc.StatusObject): void;
}

function trailingMetadata(headers: http2.IncomingHttpHeaders): grpc.Metadata {
  const md = grpc.Metadata.fromHttp2Headers(headers);
  md.remove("grpc-status");
  md.remove("grpc-message");
  return md;
}

/**
 * One call on an HTTP/2 stream: headers, the one request message, then the response read up to
 * exactly one status, whichever of the server's trailers, the deadline, the caller's cancel, a
 * local failure (limit, decoding) or the stream's loss comes first.
 */
class Http2Call {
  private live: LiveSession | undefined;
  private stream: http2.ClientHttp2Stream | undefined;
  private done = false;
  private timer: NodeJS.Timeout | undefined;
  private withdraw: (() => void) | undefined;
  private readonly reader: MessageReader;
  private httpStatus: number | undefined;
  private trailers: http2.IncomingHttpHeaders | undefined;
  private readEnded = false;
  /** A stream refused before the server saw it is retried once on a new session (grpc-js does so too). */
  private retried = false;
  private streamError: (Error & { code?: string }) | undefined;

  constructor(
    private readonly conn: Connection,
    private readonly path: string,
    private readonly frame: Buffer,
    private readonly metadata: grpc.Metadata,
    private readonly deadline: number | undefined,
    maxReceiveBytes: number,
    private readonly sink: Sink,
  ) {
    this.reader = new MessageReader(maxReceiveBytes);
  }

  start(): void {
    if (this.deadline !== undefined) {
      const wait = this.deadline - Date.now();
      // A deadline already past never reaches the server (grpc-js sends nothing either).
      if (wait <= 0) {
        this.failSoon(deadlinePassed());
        return;
      }
      if (wait <= MAX_TIMER_MS) this.timer = setTimeout(() => this.finish(deadlinePassed()), wait);
    }
    const live = this.conn.ready();
    if (live) this.open(live);
    else this.waitForSession();
  }

  cancel(): void {
    this.finish(cancelledOnClient());
  }

  pause(): void {
    this.stream?.pause();
  }

  resume(): void {
    if (!this.done) this.stream?.resume();
  }

  /** Ends the call from inside the method that started it: callers always hear of it later. */
  failSoon(s: grpc.StatusObject): void {
    process.nextTick(() => this.finish(s));
  }

  private waitForSession(): void {
    const waitForReady = this.metadata.getOptions().waitForReady === true;
    this.withdraw = this.conn.whenReady(waitForReady, (live, error) => {
      this.withdraw = undefined;
      if (this.done) return;
      if (live) this.open(live);
      else
        this.finish(
          status(
            Status.UNAVAILABLE,
            error === SHUT_DOWN ? SHUT_DOWN : `No connection established. Last error: ${error}`,
          ),
        );
    });
  }

  private headers(): http2.OutgoingHttpHeaders {
    const h = this.metadata.toHttp2Headers();
    h[":method"] = "POST";
    h[":path"] = this.path;
    h["content-type"] = "application/grpc";
    h.te = "trailers";
    h["user-agent"] = USER_AGENT;
    h["grpc-accept-encoding"] = "identity";
    if (this.deadline !== undefined) h["grpc-timeout"] = timeoutHeader(this.deadline - Date.now());
    return h;
  }

  private open(live: LiveSession): void {
    let stream: http2.ClientHttp2Stream;
    try {
      stream = live.session.request(this.headers());
    } catch (e) {
      // The session received GOAWAY or closed since it was picked: once more on a fresh one.
      this.conn.discard(live);
      if (!this.retried) {
        this.retried = true;
        this.waitForSession();
      } else this.finish(status(Status.UNAVAILABLE, `Failed to start the call: ${(e as Error).message}`));
      return;
    }
    this.live = live;
    this.stream = stream;
    live.begin();
    stream.on("response", (headers, flags) => {
      this.httpStatus = headers[":status"];
      if (flags & END_STREAM) this.trailers = headers;
      else if (!this.done) this.sink.metadata(headers);
    });
    stream.on("data", (chunk: Buffer) => {
      if (this.done) return;
      const failure = this.reader.write(chunk, this.onMessage);
      if (failure && !this.done)
        // An HTML error page read as a message: the HTTP status says more.
        this.finish(this.httpStatus !== undefined && this.httpStatus !== 200 ? this.httpFailure() : failure);
    });
    stream.on("trailers", (headers) => {
      this.trailers = headers;
    });
    // The status is given once every message before it has been delivered (the end of the data).
    stream.on("end", () => {
      this.readEnded = true;
      if (this.trailers) this.finishWithTrailers(this.trailers);
    });
    stream.on("error", (err: Error & { code?: string }) => {
      // Every error also closes the stream; "close" reports it.
      this.streamError = err;
    });
    stream.on("close", () => this.closed(stream, live));
    stream.end(this.frame);
  }

  private readonly onMessage = (message: Buffer): void => {
    if (this.done) return;
    const failure = this.sink.message(message);
    if (failure) this.finish(failure);
  };

  private httpFailure(): grpc.StatusObject {
    const s = statusOfHttp(this.httpStatus);
    return status(s.code, s.details);
  }

  private finishWithTrailers(headers: http2.IncomingHttpHeaders): void {
    if (this.done) return;
    const s = statusOfTrailers(headers) ?? statusOfHttp(this.httpStatus);
    if (s.code === Status.OK && this.reader.partial) {
      this.finish(status(Status.INTERNAL, "The response ended inside a message"));
      return;
    }
    const metadata =
      s.code !== Status.OK || this.sink.wantsTrailers() ? trailingMetadata(headers) : new grpc.Metadata();
    this.finish(status(s.code, s.details, metadata));
  }

  private closed(stream: http2.ClientHttp2Stream, live: LiveSession): void {
    if (this.done || this.stream !== stream) return;
    if (this.trailers) {
      this.finishWithTrailers(this.trailers);
      return;
    }
    const rst = stream.rstCode;
    if (rst === NGHTTP2_REFUSED_STREAM && this.httpStatus === undefined && !this.retried) {
      this.retried = true;
      this.stream = undefined;
      this.live = undefined;
      live.end();
      this.conn.discard(live);
      this.waitForSession();
      return;
    }
    const dropped = live.dropped || live.session.destroyed;
    const err = this.streamError?.code;
    let s: grpc.StatusObject;
    if (rst === NGHTTP2_REFUSED_STREAM) s = status(Status.UNAVAILABLE, "Stream refused by server");
    else if (dropped || err === "ECONNRESET" || err === "ETIMEDOUT")
      s = status(Status.UNAVAILABLE, "Connection dropped");
    else if (rst === NGHTTP2_CANCEL) s = status(Status.CANCELLED, "Call cancelled");
    else if (rst === NGHTTP2_ENHANCE_YOUR_CALM)
      s = status(Status.RESOURCE_EXHAUSTED, "Bandwidth exhausted or memory limit exceeded");
    else if (rst === NGHTTP2_INADEQUATE_SECURITY)
      s = status(Status.PERMISSION_DENIED, "Protocol not secure enough");
    else if (this.httpStatus !== undefined && this.httpStatus !== 200) s = this.httpFailure();
    else s = status(Status.INTERNAL, `Received RST_STREAM with code ${rst} (Call ended without gRPC status)`);
    this.finish(s);
  }

  private finish(s: grpc.StatusObject): void {
    if (this.done) return;
    this.done = true;
    if (this.timer) clearTimeout(this.timer);
    this.withdraw?.();
    this.withdraw = undefined;
    const stream = this.stream;
    // The server has not ended the stream (deadline, cancel, a local failure): reset it.
    if (stream && !this.readEnded && !stream.destroyed) stream.close(NGHTTP2_CANCEL);
    this.live?.end();
    this.live = undefined;
    this.sink.end(s);
  }
}

function failureText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** The request as one framed message, or the status that fails the call before anything is sent. */
function encodeRequest(
  serialize: Serialize,
  request: unknown,
  maxSendBytes: number,
): { frame: Buffer } | { failure: grpc.StatusObject } {
  let bytes: Buffer;
  try {
    bytes = serialize(request);
  } catch (e) {
    return { failure: status(Status.INTERNAL, `Request message serialization failure: ${failureText(e)}`) };
  }
  if (bytes.length > maxSendBytes)
    return {
      failure: status(
        Status.RESOURCE_EXHAUSTED,
        `Attempted to send message with a size larger than ${maxSendBytes}`,
      ),
    };
  return { frame: frameMessage(bytes) };
}

const EMPTY_FRAME = frameMessage(Buffer.alloc(0));

class Transport {
  closed = false;

  constructor(
    readonly conn: Connection,
    private readonly opts: Http2ClientOptions,
  ) {}

  unary(
    path: string,
    serialize: Serialize,
    deserialize: Deserialize,
    request: unknown,
    a?: unknown,
    b?: unknown,
    c?: unknown,
  ): UnaryCallHandle {
    const { metadata, options, callback } = unaryArguments(a, b, c);
    let response: unknown;
    let received = 0;
    let handle: UnaryCallHandle | undefined;
    const sink: Sink = {
      metadata: (headers) => {
        if (handle && handle.listenerCount("metadata") > 0)
          handle.emit("metadata", grpc.Metadata.fromHttp2Headers(headers));
      },
      message: (bytes) => {
        if (++received > 1) return status(Status.UNIMPLEMENTED, "Too many responses received");
        try {
          response = deserialize(bytes);
        } catch (e) {
          return status(Status.INTERNAL, `Response message parsing error: ${failureText(e)}`);
        }
        return undefined;
      },
      wantsTrailers: () => (handle?.listenerCount("status") ?? 0) > 0,
      end: (s) => {
        const final =
          s.code === Status.OK && received === 0
            ? status(Status.UNIMPLEMENTED, "No message received", s.metadata)
            : s;
        if (final.code === Status.OK) callback(null, response);
        else callback(callError(final));
        handle?.emit("status", final);
      },
    };
    const { call, begin } = this.newCall(path, serialize, request, metadata, options, sink);
    handle = new UnaryCallHandle(() => call.cancel(), this.conn.peer);
    begin();
    return handle;
  }

  serverStream(
    path: string,
    serialize: Serialize,
    deserialize: Deserialize,
    request: unknown,
    a?: unknown,
    b?: unknown,
  ): ServerStreamHandle {
    const { metadata, options } = streamArguments(a, b);
    const handle = new ServerStreamHandle(this.conn.peer);
    let reading: Http2Call | undefined;
    const sink: Sink = {
      metadata: (headers) => {
        if (handle.listenerCount("metadata") > 0)
          handle.emit("metadata", grpc.Metadata.fromHttp2Headers(headers));
      },
      message: (bytes) => {
        let message: unknown;
        try {
          message = deserialize(bytes);
        } catch (e) {
          return status(Status.INTERNAL, `Response message parsing error: ${failureText(e)}`);
        }
        // Backpressure: the HTTP/2 stream (and its flow-control window) waits for the reader.
        if (!handle.push(message)) reading?.pause();
        return undefined;
      },
      wantsTrailers: () => handle.listenerCount("status") > 0,
      end: (s) => handle.finish(s),
    };
    const { call, begin } = this.newCall(path, serialize, request, metadata, options, sink);
    reading = call;
    handle.onCancel = () => call.cancel();
    handle.onRead = () => call.resume();
    begin();
    return handle;
  }

  /**
   * A call of `path` with `request` encoded (within the send limit); `begin` starts it, or fails
   * it soon with the reason it cannot be sent (this transport closed, the request unencodable or
   * too large), once the caller has its handle in place.
   */
  private newCall(
    path: string,
    serialize: Serialize,
    request: unknown,
    metadata: grpc.Metadata,
    options: Partial<grpc.CallOptions>,
    sink: Sink,
  ): { call: Http2Call; begin(): void } {
    const encoded = this.closed ? undefined : encodeRequest(serialize, request, this.opts.maxSendBytes);
    const call = new Http2Call(
      this.conn,
      path,
      encoded && "frame" in encoded ? encoded.frame : EMPTY_FRAME,
      metadata,
      deadlineAt(options),
      this.opts.maxReceiveBytes,
      sink,
    );
    const begin = () => {
      if (!encoded) call.failSoon(status(Status.UNAVAILABLE, SHUT_DOWN));
      else if ("failure" in encoded) call.failSoon(encoded.failure);
      else call.start();
    };
    return { call, begin };
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.conn.release();
  }

  /** grpc.Client#waitForReady: connected (TLS and attestation done) before the deadline, or an error. */
  waitForReady(deadline: grpc.Deadline, callback: (error?: Error) => void): void {
    if (this.closed) return void setImmediate(callback, new Error("The channel has been closed"));
    const at = deadline instanceof Date ? deadline.getTime() : Number(deadline);
    let timer: NodeJS.Timeout | undefined;
    const withdraw = this.conn.whenReady(true, (live, error) => {
      if (timer) clearTimeout(timer);
      if (live) callback();
      else callback(new Error(error === SHUT_DOWN ? "The channel has been closed" : error));
    });
    if (Number.isFinite(at))
      timer = setTimeout(
        () => {
          withdraw();
          callback(new Error("Failed to connect before the deadline"));
        },
        Math.min(MAX_TIMER_MS, Math.max(0, at - Date.now())),
      );
  }
}

/**
 * A generated client whose calls go over Node's own HTTP/2 client on an attested TLS socket
 * (the same handshake and verifier as grpc-js's path), without grpc-js's channel stack. The
 * object keeps the generated prototype (so `instanceof` holds) and shadows every method the
 * channel would serve: each service method, `makeUnaryRequest`/`makeServerStreamRequest`,
 * `close`, `waitForReady`, `getChannel` (which throws: there is no grpc-js channel).
 */
export function http2Client<C extends grpc.Client>(
  Client: ServiceClientConstructor<C>,
  target: string,
  credentials: AttestedChannelCredentials,
  opts: Http2ClientOptions,
): C {
  const transport = new Transport(acquireConnection(credentials, target, opts), opts);
  const client: C = Object.create(Client.prototype);
  const unsupported = (path: string) => () => {
    throw new Error(`${path}: client-streaming methods have no node:http2 transport; use the grpc-js one`);
  };
  const own: Record<string, unknown> = {
    makeUnaryRequest: transport.unary.bind(transport),
    makeServerStreamRequest: transport.serverStream.bind(transport),
    makeClientStreamRequest: unsupported("makeClientStreamRequest"),
    makeBidiStreamRequest: unsupported("makeBidiStreamRequest"),
    close: () => transport.close(),
    waitForReady: (deadline: grpc.Deadline, callback: (error?: Error) => void) =>
      transport.waitForReady(deadline, callback),
    getChannel: () => {
      throw new Error("a client on the node:http2 transport has no grpc-js channel");
    },
  };
  for (const [name, def] of Object.entries(Client.service) as [
    string,
    grpc.MethodDefinition<unknown, unknown>,
  ][]) {
    const serialize = def.requestSerialize as Serialize;
    const deserialize = def.responseDeserialize as Deserialize;
    const method = def.requestStream
      ? unsupported(def.path)
      : def.responseStream
        ? (request: unknown, a?: unknown, b?: unknown) =>
            transport.serverStream(def.path, serialize, deserialize, request, a, b)
        : (request: unknown, a?: unknown, b?: unknown, c?: unknown) =>
            transport.unary(def.path, serialize, deserialize, request, a, b, c);
    own[name] = method;
    if (def.originalName) own[def.originalName] = method;
  }
  return Object.assign(client, own);
}
