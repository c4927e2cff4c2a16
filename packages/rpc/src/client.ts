import { CloisterError, ConfigError, type StatusCode } from "@cloister/core";
import * as grpc from "@grpc/grpc-js";
import { dialTarget } from "./address.js";
import { AttestedChannelCredentials } from "./channel.js";
import { http2Client, type ServiceClientConstructor } from "./http2-client.js";
import { INTERNAL_MAX_MESSAGE_BYTES } from "./tls-params.js";

/**
 * Which client stack carries a client's calls: `http2` is our lean transport over Node's own
 * HTTP/2 client (attested clients only), `grpc-js` the full grpc-js channel.
 */
export type ClientTransport = "http2" | "grpc-js";

export interface ClientOptions {
  /**
   * Largest request and response message, in bytes. Default: the internal limit (80 MiB), as
   * most clients are services calling internal peers; an API server still refuses more than 16 MiB.
   */
  maxMessageBytes?: number;
  /** Interval of keepalive pings while calls are active (default 60 s). */
  keepaliveMs?: number;
  /** A keepalive ping not acknowledged within this closes the connection (default 20 s). */
  keepaliveTimeoutMs?: number;
  /** Extra grpc-js channel options; they override the defaults above (grpc-js transport only). */
  channelOptions?: grpc.ChannelOptions;
  /**
   * The client stack (see ClientTransport). Default: `CLOISTER_RPC_TRANSPORT` when set, else
   * `http2`. Clients with other credentials, channel options or no service definition always use grpc-js.
   */
  transport?: ClientTransport;
}

/** The default transport, from `CLOISTER_RPC_TRANSPORT` (read at each createClient). */
function defaultTransport(): ClientTransport {
  const v = process.env["CLOISTER_RPC_TRANSPORT"];
  if (v === undefined || v === "") return "http2";
  if (v === "http2" || v === "grpc-js") return v;
  throw new ConfigError(`invalid CLOISTER_RPC_TRANSPORT "${v}": expected http2 or grpc-js`);
}

/** A generated grpc-js client constructor (ts-proto `outputServices=grpc-js`). */
export type ClientConstructor<C extends grpc.Client> = new (
  address: string,
  credentials: grpc.ChannelCredentials,
  options?: Partial<grpc.ClientOptions>,
) => C;

/**
 * Creates a client for `address` (`host:port` or `https://host:port`) with message limits large
 * enough for file payloads and keepalive that notices dead peers.
 */
export function createClient<C extends grpc.Client>(
  Client: ClientConstructor<C>,
  address: string,
  credentials: grpc.ChannelCredentials,
  opts: ClientOptions = {},
): C {
  const max = opts.maxMessageBytes ?? INTERNAL_MAX_MESSAGE_BYTES;
  const keepaliveMs = opts.keepaliveMs ?? 60_000;
  const service = (Client as Partial<ServiceClientConstructor<C>>).service;
  const fits = credentials instanceof AttestedChannelCredentials && service !== undefined;
  if (opts.transport === "http2" && !fits)
    throw new ConfigError("the http2 transport needs attested channel credentials and a generated client");
  const transport = opts.transport ?? (opts.channelOptions ? "grpc-js" : defaultTransport());
  if (transport === "http2" && fits)
    return http2Client(Client as ServiceClientConstructor<C>, dialTarget(address), credentials, {
      maxSendBytes: max,
      maxReceiveBytes: max,
      keepaliveMs,
      keepaliveTimeoutMs: opts.keepaliveTimeoutMs ?? 20_000,
      initialBackoffMs: 500,
      maxBackoffMs: 10_000,
      connectTimeoutMs: 20_000,
    });
  return new Client(dialTarget(address), credentials, {
    "grpc.max_receive_message_length": max,
    "grpc.max_send_message_length": max,
    "grpc.keepalive_time_ms": keepaliveMs,
    "grpc.keepalive_timeout_ms": opts.keepaliveTimeoutMs ?? 20_000,
    "grpc.keepalive_permit_without_calls": 0,
    "grpc.initial_reconnect_backoff_ms": 500,
    "grpc.max_reconnect_backoff_ms": 10_000,
    ...opts.channelOptions,
  });
}

/**
 * A failed call as seen by the caller: the gRPC code and details exactly as received. It is a
 * CloisterError, so a service may rethrow it to pass the peer's status through unchanged.
 */
export class RpcError extends CloisterError {
  readonly details: string;
  readonly metadata: grpc.Metadata;
  constructor(code: StatusCode, details: string, metadata: grpc.Metadata, options?: { cause?: unknown }) {
    super(code, details, options);
    this.name = "RpcError";
    this.details = details;
    this.metadata = metadata;
  }
}

type UnaryCallback<Res> = (error: grpc.ServiceError | null, response: Res) => void;
type UnaryMethod<Req, Res> = (
  request: Req,
  metadata: grpc.Metadata,
  options: Partial<grpc.CallOptions>,
  callback: UnaryCallback<Res>,
) => grpc.ClientUnaryCall;

/** Names of the client's unary methods (the generated four-argument overload). */
export type UnaryMethodName<C> = {
  [K in keyof C]: C[K] extends UnaryMethod<infer _Q, infer _R> ? K : never;
}[keyof C] &
  string;
export type RequestOf<C, M extends keyof C> = C[M] extends UnaryMethod<infer Q, infer _R> ? Q : never;
export type ResponseOf<C, M extends keyof C> = C[M] extends UnaryMethod<infer _Q, infer R> ? R : never;

export interface CallOptions {
  metadata?: grpc.Metadata;
  /** Relative deadline; the call fails with DEADLINE_EXCEEDED after it. */
  deadlineMs?: number;
  /**
   * Wait (until the deadline) for the channel to connect instead of failing at once when the
   * peer is down: right for calls between services, which start in any order and restart.
   */
  waitForReady?: boolean;
  /** Cancels the call (the caller sees CANCELLED) when it aborts. */
  signal?: AbortSignal;
}

/** Makes a unary call and resolves with the response or rejects with an RpcError. */
export function callUnary<C extends grpc.Client, M extends UnaryMethodName<C>>(
  client: C,
  method: M,
  request: RequestOf<C, M>,
  opts: CallOptions = {},
): Promise<ResponseOf<C, M>> {
  const fn = client[method] as unknown as UnaryMethod<RequestOf<C, M>, ResponseOf<C, M>>;
  if (typeof fn !== "function") throw new TypeError(`client has no method ${method}`);
  const callOptions: Partial<grpc.CallOptions> =
    opts.deadlineMs !== undefined ? { deadline: Date.now() + opts.deadlineMs } : {};
  // grpc-js reads wait-for-ready from the call's metadata options, not from CallOptions.
  const metadata = opts.metadata?.clone() ?? new grpc.Metadata();
  if (opts.waitForReady) metadata.setOptions({ waitForReady: true });
  return new Promise((resolve, reject) => {
    const call = fn.call(client, request, metadata, callOptions, (error, response) => {
      opts.signal?.removeEventListener("abort", cancel);
      if (error) reject(toRpcError(error));
      else resolve(response);
    });
    function cancel() {
      call.cancel();
    }
    if (opts.signal?.aborted) cancel();
    else opts.signal?.addEventListener("abort", cancel, { once: true });
  });
}

/** Converts a grpc-js ServiceError (code, details, metadata) into an RpcError. */
export function toRpcError(error: grpc.ServiceError): RpcError {
  const code = (typeof error.code === "number" ? error.code : grpc.status.UNKNOWN) as StatusCode;
  return new RpcError(code, error.details ?? error.message, error.metadata ?? new grpc.Metadata(), {
    cause: error,
  });
}
