import type { AddressInfo, Socket } from "node:net";
import * as tls from "node:tls";
import { ConfigError, ERRORS, type Logger, Status, silentLogger } from "@cloister/core";
import * as grpc from "@grpc/grpc-js";
import { parseHostPort } from "./address.js";
import { ConnectionLimiter, type ConnectionLimits, DEFAULT_CONNECTION_LIMITS } from "./connections.js";
import { toServiceError } from "./errors.js";
import { guardService } from "./guard.js";
import { type CallObserver, type WireMethod, WireServer } from "./http2-server.js";
import { API_FIELD_LIMITS, API_METHOD_LIMITS } from "./limits.js";
import type { LocalMethod, LocalRoute } from "./local-route.js";
import { markVerified } from "./peer.js";
import {
  DEFAULT_MAX_MESSAGE_BYTES,
  INTERNAL_MAX_MESSAGE_BYTES,
  MAX_TLS_VERSION,
  MIN_TLS_VERSION,
  NO_RESUMPTION,
  TLS12_CIPHERS,
} from "./tls-params.js";
import type { CertificateSource, PeerVerifier } from "./types.js";

export interface AttestedServerOptions {
  /** The certificate presented to clients; renewals apply to new connections. */
  identity: CertificateSource;
  /**
   * Set on internal endpoints: a client certificate is then required and must pass this check
   * before the connection reaches gRPC. Leave unset on API endpoints (no client certificate).
   */
  verifyClient?: PeerVerifier;
  /**
   * Largest request and response message, in bytes. Default: 64 MiB on internal endpoints; on
   * API endpoints the largest request any registered method accepts (limits.ts), else 16 MiB.
   */
  maxMessageBytes?: number;
  logger?: Logger;
  /** How long close() waits for in-flight calls before cutting connections (default 5 s). */
  shutdownGraceMs?: number;
  /** Connections that have not finished the TLS handshake by then are dropped (default 20 s). */
  handshakeTimeoutMs?: number;
  /** Caps on connections, streams and calls (connections.ts); defaults suit one host's services. */
  limits?: Partial<ConnectionLimits>;
  /**
   * grpc-js server interceptors (metrics, ...), outermost first; ours run inside them. The
   * http2 transport runs only interceptors that carry a call observer (`observedInterceptor`):
   * it tells the observer of each call instead; any other interceptor makes this server use
   * grpc-js.
   */
  interceptors?: grpc.ServerInterceptor[];
  /**
   * The server stack (see "Server transport" in the README). Default: `CLOISTER_RPC_SERVER`
   * when set, else `http2`.
   */
  transport?: ServerTransport;
  /**
   * Told of every in-process call when it ends (`localClient`; grpc-js interceptors never see
   * those): its path, status code and duration, so a service's RPC series count every call.
   */
  onLocalCall?: (path: string, code: number, seconds: number) => void;
}

/**
 * `http2`: our own gRPC server on `node:http2` (http2-server.ts); `grpc-js`: grpc-js's server
 * through its connection injector.
 */
export type ServerTransport = "http2" | "grpc-js";

/** The default server transport, from `CLOISTER_RPC_SERVER` (read when a server is created). */
export function defaultServerTransport(): ServerTransport {
  const v = process.env["CLOISTER_RPC_SERVER"];
  if (v === undefined || v === "") return "http2";
  if (v === "http2" || v === "grpc-js") return v;
  throw new ConfigError(`invalid CLOISTER_RPC_SERVER "${v}": expected http2 or grpc-js`);
}

/** Where an interceptor made by `observedInterceptor` keeps its observer (no import needed). */
const CALL_OBSERVER = Symbol.for("cloister.rpc.callObserver");

/**
 * A grpc-js interceptor that only observes each call's end (path, code, seconds), marked so the
 * http2 transport can call `observer` itself instead of running grpc-js's interceptor machinery.
 */
export function observedInterceptor(
  interceptor: grpc.ServerInterceptor,
  observer: CallObserver,
): grpc.ServerInterceptor {
  return Object.assign(interceptor, { [CALL_OBSERVER]: observer });
}

function observerOf(interceptor: grpc.ServerInterceptor): CallObserver | undefined {
  const o = (interceptor as unknown as Record<symbol, unknown>)[CALL_OBSERVER];
  return typeof o === "function" ? (o as CallObserver) : undefined;
}

/**
 * Runs when a call's metadata has arrived and before any byte of its message is read: throwing
 * refuses the call (its status as `toServiceError` maps it) without reading the body, so a peer
 * that cannot pass it cannot make the server buffer a large message.
 */
export type Admission = (call: { path: string; metadata: grpc.Metadata; peer: string }) => Promise<void>;

export interface ServiceOptions {
  /** Applied to every method of the service. */
  admit?: Admission;
  /** Per gRPC path: the method as `serve()` composed it, callable in process (`localClient`). */
  local?: ReadonlyMap<string, LocalRoute>;
}

/** How an in-process call may start (see `AttestedServer.openLocalCall`). */
export type LocalCallStart = { release: () => void } | { refused: "closed" | "busy" };

/**
 * A gRPC server behind our own TLS listener.
 *
 * Node's TLS offers no verification callback for self-signed peers, so the TLS server is ours:
 * it completes the handshake, checks ALPN and (on internal endpoints) the client's attestation on
 * `secureConnection`, and only then hands the decrypted socket to the gRPC server: our own on
 * `node:http2` (default), or grpc-js through its public connection-injection API. A rejected
 * socket is destroyed before any HTTP/2 byte is read.
 */
export class AttestedServer {
  private grpcServer: grpc.Server | undefined;
  private readonly services: [grpc.ServiceDefinition, grpc.UntypedServiceImplementation][] = [];
  private readonly routes = new Map<string, LocalRoute>();
  private wire: WireServer | undefined;
  private readonly requested: ServerTransport;
  private readonly admissions = new Map<string, Admission>();
  private readonly tlsServer: tls.Server;
  /** Hands an admitted, verified socket to the gRPC server (set by listen()). */
  private inject: ((socket: tls.TLSSocket) => void) | undefined;
  private readonly sockets = new Set<Socket>();
  private readonly limiter: ConnectionLimiter;
  private readonly limits: ConnectionLimits;
  private readonly log: Logger;
  private readonly graceMs: number;
  private state: "idle" | "listening" | "closing" | "closed" = "idle";
  private closing: Promise<void> | undefined;
  private readonly names: string[] = [];
  private readonly localMethods = new Map<string, LocalMethod>();
  /** In-process calls in progress, each with the function that cuts it at a forced close. */
  private readonly localCalls = new Set<() => void>();
  private localIdle: (() => void) | undefined;
  private limitsKnown: { receive: number; send: number } | undefined;

  constructor(private readonly opts: AttestedServerOptions) {
    this.log = opts.logger ?? silentLogger;
    this.graceMs = opts.shutdownGraceMs ?? 5000;
    this.requested = opts.transport ?? defaultServerTransport();
    // Calls on internal endpoints come from attested services (all from loopback on one host),
    // which multiplex every user's work: only the total is capped there.
    const internalCalls = opts.verifyClient ? { maxCallsPerPeer: 8192, maxCalls: 8192 } : {};
    this.limits = { ...DEFAULT_CONNECTION_LIMITS, ...internalCalls, ...opts.limits };
    const handshakeTimeoutMs = opts.handshakeTimeoutMs ?? this.limits.handshakeTimeoutMs;
    this.limiter = new ConnectionLimiter({ ...this.limits, handshakeTimeoutMs }, this.log);
    this.tlsServer = tls.createServer({
      ...this.secureContextOptions(),
      requestCert: opts.verifyClient !== undefined,
      // OpenSSL cannot judge a self-signed attested certificate; admit() does the real check.
      rejectUnauthorized: false,
      ALPNProtocols: ["h2"],
      handshakeTimeout: handshakeTimeoutMs,
    });
    this.tlsServer.on("connection", (socket: Socket) => {
      if (!this.limiter.accept(socket)) return;
      // Answers are small and latency-bound: no Nagle delay behind an unacknowledged segment
      // (net servers leave it on; grpc-js clients already turn it off on their side).
      socket.setNoDelay(true);
      this.sockets.add(socket);
      socket.once("close", () => this.sockets.delete(socket));
    });
    this.tlsServer.on("secureConnection", (socket: tls.TLSSocket) => this.admit(socket));
    this.tlsServer.on("tlsClientError", (err: Error) => {
      this.log.debug({ err: err.message }, "TLS handshake failed");
    });
    opts.identity.on("renewed", () => this.reloadCertificate());
  }

  /** The underlying grpc-js server; created by listen() on the grpc-js transport. */
  get grpc(): grpc.Server {
    if (!this.grpcServer)
      throw new Error("the grpc-js server exists once listen() was called (grpc-js transport)");
    return this.grpcServer;
  }

  /** The transport serving calls: the one asked for, unless something only grpc-js runs is registered. */
  get transport(): ServerTransport {
    if (this.requested === "grpc-js") return "grpc-js";
    if ((this.opts.interceptors ?? []).some((i) => observerOf(i) === undefined)) return "grpc-js";
    // Client-streaming and bidi handlers (none on our endpoints) have no form on our server.
    const streamingIn = this.services.some(([def, impl]) =>
      Object.entries(def).some(([name, m]) => m.requestStream && typeof impl[name] === "function"),
    );
    return streamingIn ? "grpc-js" : "http2";
  }

  private get internal(): boolean {
    return this.opts.verifyClient !== undefined;
  }

  /**
   * Registers a service implementation (see `unary()` for async handlers). Every unary method is
   * guarded: a request that does not parse, or (on API endpoints) exceeds its limits in
   * limits.ts, is answered 3 INVALID_ARGUMENT before the handler runs.
   */
  addService(
    service: grpc.ServiceDefinition,
    implementation: grpc.UntypedServiceImplementation,
    options: ServiceOptions = {},
  ): void {
    if (this.state !== "idle") throw new Error("services must be added before listen()");
    const guarded = guardService(service, implementation, (path) => {
      const message = this.internal ? undefined : API_METHOD_LIMITS[path];
      return { message, fields: message ? API_FIELD_LIMITS : undefined };
    });
    for (const [name, def] of Object.entries(guarded.service)) {
      const route = options.local?.get(def.path);
      if (route) this.routes.set(def.path, route);
      if (route && !def.requestStream)
        this.localMethods.set(def.path, {
          route,
          decodeRequest: def.requestDeserialize,
          encodeResponse: (service[name] as grpc.MethodDefinition<unknown, unknown>).responseSerialize,
        });
    }
    for (const def of Object.values(service)) {
      if (options.admit) this.admissions.set(def.path, options.admit);
      const name = /^\/([^/]+)\//.exec(def.path)?.[1];
      if (name && !this.names.includes(name)) this.names.push(name);
    }
    this.services.push([guarded.service, guarded.implementation]);
    this.limitsKnown = undefined;
  }

  /** The receive limit: what the largest registered method accepts, so nothing larger is buffered. */
  private maxMessageBytes(): number {
    if (this.opts.maxMessageBytes !== undefined) return this.opts.maxMessageBytes;
    if (this.internal) return INTERNAL_MAX_MESSAGE_BYTES;
    // Streaming methods (grpc.health.v1 Watch) take tiny requests and are bounded by the result.
    const paths = this.services.flatMap(([def]) =>
      Object.values(def)
        .filter((m) => !m.requestStream && !m.responseStream)
        .map((m) => m.path),
    );
    const limits = paths.map((p) => API_METHOD_LIMITS[p]?.maxBytes);
    if (paths.length === 0 || limits.some((l) => l === undefined)) return DEFAULT_MAX_MESSAGE_BYTES;
    return Math.max(...(limits as number[]));
  }

  /** Largest message received and sent, in bytes (the same for the wire and in-process calls). */
  messageLimits(): { receive: number; send: number } {
    if (!this.limitsKnown) {
      const max = this.maxMessageBytes();
      // Responses (a function's payload) may be larger than what a method accepts.
      this.limitsKnown = {
        receive: max,
        send: this.internal ? max : Math.max(max, DEFAULT_MAX_MESSAGE_BYTES),
      };
    }
    return this.limitsKnown;
  }

  /**
   * The method at `path` as serve() registered it, with this endpoint's guarded request decoder
   * (for `localClient`; methods added without serve() have none).
   */
  localMethod(path: string): LocalMethod | undefined {
    return this.localMethods.get(path);
  }

  /** An in-process call at `path` ended with `code`, `startedNs` (hrtime) after it began. */
  localCallEnded(path: string, code: number, startedNs: bigint): void {
    this.opts.onLocalCall?.(path, code, Number(process.hrtime.bigint() - startedNs) / 1e9);
  }

  /**
   * Admits one in-process call under the same caps as the wire's (calls in progress, in all and
   * for the "in-process" peer), unless the server is closing. `cut` ends the call if it is still
   * running when the shutdown grace period is over; `release` must be called when it ends.
   */
  openLocalCall(cut: () => void): LocalCallStart {
    if (this.state === "closing" || this.state === "closed") return { refused: "closed" };
    const free = this.limiter.startCall("in-process");
    if (!free) return { refused: "busy" };
    this.localCalls.add(cut);
    let done = false;
    return {
      release: () => {
        if (done) return;
        done = true;
        free();
        this.localCalls.delete(cut);
        if (this.localCalls.size === 0) this.localIdle?.();
      },
    };
  }

  /** Every registered method as our HTTP/2 server runs it. */
  private createWire(): WireServer {
    const methods = new Map<string, WireMethod>();
    for (const [def, impl] of this.services) {
      for (const [name, m] of Object.entries(def)) {
        const handler = impl[name] ?? (m.originalName ? impl[m.originalName] : undefined);
        const route = this.routes.get(m.path);
        methods.set(m.path, {
          path: m.path,
          responseStream: m.responseStream,
          decode: m.requestDeserialize,
          encode: m.responseSerialize as (value: unknown) => Buffer,
          route,
          // serve() admits through its route; its ServiceOptions.admit is the same chain.
          admit: route ? undefined : this.admissions.get(m.path),
          handler: route ? undefined : (handler as WireMethod["handler"]),
        });
      }
    }
    const { receive, send } = this.messageLimits();
    return new WireServer({
      methods,
      receiveBytes: receive,
      sendBytes: send,
      maxConcurrentStreams: this.limits.maxConcurrentStreams,
      idleConnectionMs: this.internal ? undefined : this.limits.idleConnectionMs,
      limiter: this.limiter,
      log: this.log,
      observers: (this.opts.interceptors ?? [])
        .map(observerOf)
        .filter((o): o is CallObserver => o !== undefined),
    });
  }

  private createGrpc(): grpc.Server {
    const { receive, send } = this.messageLimits();
    const server = new grpc.Server({
      "grpc.max_receive_message_length": receive,
      "grpc.max_send_message_length": send,
      "grpc.max_concurrent_streams": this.limits.maxConcurrentStreams,
      ...(this.internal ? {} : { "grpc.max_connection_idle_ms": this.limits.idleConnectionMs }),
      interceptors: [...(this.opts.interceptors ?? []), (method, call) => this.intercept(method.path, call)],
    });
    for (const [def, impl] of this.services) server.addService(def, impl);
    return server;
  }

  /**
   * Per call, before the handler: a cap on calls in flight per peer and in total, and the
   * service's admission check before any message byte is read.
   */
  private intercept(path: string, call: grpc.ServerInterceptingCallInterface): grpc.ServerInterceptingCall {
    const admit = this.admissions.get(path);
    const peer = call.getConnectionInfo().remoteAddress ?? "";
    let release: (() => void) | undefined;
    const refuse = (code: number, details: string) => {
      release?.();
      release = undefined;
      call.sendStatus({ code, details, metadata: new grpc.Metadata() });
    };
    return new grpc.ServerInterceptingCall(call, {
      start: (next) =>
        next({
          onReceiveMetadata: (metadata, forward) => {
            release = this.limiter.startCall(peer);
            if (!release) {
              refuse(ERRORS.TOO_MANY_CALLS.code, ERRORS.TOO_MANY_CALLS.text);
              return;
            }
            if (!admit) {
              forward(metadata);
              return;
            }
            admit({ path, metadata, peer }).then(
              () => forward(metadata),
              (err: unknown) => {
                const e = toServiceError(err, this.log);
                refuse(e.code ?? Status.INTERNAL, e.details ?? "");
              },
            );
          },
          onCancel: () => {
            release?.();
            release = undefined;
          },
        }),
      sendStatus: (status, next) => {
        release?.();
        release = undefined;
        next(status);
      },
    });
  }

  /** Fully-qualified names of the gRPC services registered so far (for health checks). */
  serviceNames(): readonly string[] {
    return this.names;
  }

  /** Starts listening on `host:port` (port 0 picks a free port); resolves to the bound port. */
  async listen(address: string): Promise<number> {
    if (this.state !== "idle") throw new Error(`attested server cannot listen: it is ${this.state}`);
    const { host, port } = parseHostPort(address);
    if (this.transport === "http2") {
      const wire = this.createWire();
      this.wire = wire;
      this.inject = (socket) => wire.inject(socket);
    } else {
      this.grpcServer = this.createGrpc();
      // TLS is terminated by tlsServer; grpc-js sees an already secured, already verified stream.
      const injector = this.grpcServer.createConnectionInjector(grpc.ServerCredentials.createInsecure());
      this.inject = (socket) => injector.injectConnection(socket);
    }
    this.state = "listening";
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error) => {
        this.state = "idle";
        reject(err);
      };
      this.tlsServer.once("error", onError);
      this.tlsServer.listen({ host, port }, () => {
        this.tlsServer.off("error", onError);
        resolve();
      });
    });
    this.tlsServer.on("error", (err) => this.log.error({ err: err.message }, "listener error"));
    const bound = (this.tlsServer.address() as AddressInfo).port;
    this.log.info(
      { host, port: bound, internal: this.opts.verifyClient !== undefined, transport: this.transport },
      "listening",
    );
    return bound;
  }

  /**
   * Stops accepting connections, lets in-flight calls finish for up to the grace period, then
   * cuts whatever is left. Idempotent.
   */
  close(): Promise<void> {
    if (!this.closing) this.closing = this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    this.state = "closing";
    const listenerClosed = new Promise<void>((resolve) => this.tlsServer.close(() => resolve()));
    const server = this.grpcServer;
    const wire = this.wire
      ? this.wire.close(this.graceMs)
      : server
        ? new Promise<void>((resolve) => {
            const timer = setTimeout(() => {
              server.forceShutdown();
              resolve();
            }, this.graceMs);
            server.tryShutdown(() => {
              clearTimeout(timer);
              resolve();
            });
          })
        : Promise.resolve();
    await Promise.all([wire, this.drainLocalCalls()]);
    this.limiter.close();
    // Connections still in the handshake (or refused) are not grpc-js's to close.
    for (const socket of this.sockets) socket.destroy();
    await listenerClosed;
    this.state = "closed";
  }

  /** Waits up to the grace period for in-process calls, then cuts what is left. */
  private async drainLocalCalls(): Promise<void> {
    if (this.localCalls.size === 0) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, this.graceMs);
      this.localIdle = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    this.localIdle = undefined;
    for (const cut of [...this.localCalls]) cut();
  }

  private secureContextOptions(): tls.SecureContextOptions {
    const { privateKeyPem, certificatePem } = this.opts.identity.current();
    return {
      key: privateKeyPem,
      cert: certificatePem,
      ciphers: TLS12_CIPHERS,
      honorCipherOrder: true,
      minVersion: MIN_TLS_VERSION,
      maxVersion: MAX_TLS_VERSION,
      secureOptions: NO_RESUMPTION,
    };
  }

  private reloadCertificate(): void {
    if (this.state === "closing" || this.state === "closed") return;
    try {
      this.tlsServer.setSecureContext(this.secureContextOptions());
      this.log.info("presenting renewed certificate on new connections");
    } catch (err) {
      // Keep serving the previous certificate rather than going dark.
      this.log.error(
        { err: (err as Error).message },
        "renewed certificate rejected by TLS; keeping the old one",
      );
    }
  }

  /** Runs on every completed handshake, before grpc-js ever sees the socket. */
  private admit(socket: tls.TLSSocket): void {
    socket.on("error", (err) => this.log.debug({ err: err.message }, "connection error"));
    const reason = this.refusalReason(socket);
    const inject = this.inject;
    if (reason === undefined && inject) {
      this.limiter.awaitPreface(socket, () => {
        if (this.state === "listening") inject(socket);
        else socket.destroy();
      });
      return;
    }
    this.log.warn({ remote: socket.remoteAddress, reason }, "connection refused");
    socket.destroy();
  }

  /** Why a handshaken connection may not reach gRPC; undefined admits it (after recording its peer). */
  private refusalReason(socket: tls.TLSSocket): string | undefined {
    if (this.state !== "listening") return "server is shutting down";
    if (socket.alpnProtocol !== "h2") return "client did not negotiate ALPN h2";
    const verify = this.opts.verifyClient;
    if (!verify) return undefined;
    const cert = socket.getPeerCertificate(true);
    if (!cert?.raw) return "no client certificate (mutual attestation required)";
    try {
      markVerified(socket, verify(cert.raw));
      return undefined;
    } catch (err) {
      return `client attestation rejected: ${err instanceof Error ? err.message : String(err)}`;
    }
  }
}

export function createAttestedServer(opts: AttestedServerOptions): AttestedServer {
  return new AttestedServer(opts);
}
