import type { AddressInfo, Socket } from "node:net";
import * as tls from "node:tls";
import { type Logger, silentLogger } from "@cloister/core";
import * as grpc from "@grpc/grpc-js";
import { parseHostPort } from "./address.js";
import { markVerified } from "./peer.js";
import {
  DEFAULT_MAX_MESSAGE_BYTES,
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
  /** Largest request and response message, in bytes (default 16 MiB). */
  maxMessageBytes?: number;
  logger?: Logger;
  /** How long close() waits for in-flight calls before cutting connections (default 5 s). */
  shutdownGraceMs?: number;
  /** Connections that have not finished the TLS handshake by then are dropped (default 20 s). */
  handshakeTimeoutMs?: number;
  /** grpc-js server interceptors (metrics, ...), outermost first. */
  interceptors?: grpc.ServerInterceptor[];
}

/**
 * A gRPC server behind our own TLS listener.
 *
 * Node's TLS offers no verification callback for self-signed peers, so the TLS server is ours:
 * it completes the handshake, checks ALPN and (on internal endpoints) the client's attestation on
 * `secureConnection`, and only then hands the decrypted socket to grpc-js through its public
 * connection-injection API. A rejected socket is destroyed before any HTTP/2 byte is read.
 */
export class AttestedServer {
  /** The underlying grpc-js server (services are registered on it). */
  readonly grpc: grpc.Server;
  private readonly tlsServer: tls.Server;
  private readonly injector: grpc.ConnectionInjector;
  private readonly sockets = new Set<Socket>();
  private readonly log: Logger;
  private readonly graceMs: number;
  private state: "idle" | "listening" | "closing" | "closed" = "idle";
  private closing: Promise<void> | undefined;
  private readonly names: string[] = [];

  constructor(private readonly opts: AttestedServerOptions) {
    const max = opts.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    this.log = opts.logger ?? silentLogger;
    this.graceMs = opts.shutdownGraceMs ?? 5000;
    this.grpc = new grpc.Server({
      "grpc.max_receive_message_length": max,
      "grpc.max_send_message_length": max,
      ...(opts.interceptors?.length ? { interceptors: opts.interceptors } : {}),
    });
    // TLS is terminated by tlsServer; grpc-js sees an already secured, already verified stream.
    this.injector = this.grpc.createConnectionInjector(grpc.ServerCredentials.createInsecure());
    this.tlsServer = tls.createServer({
      ...this.secureContextOptions(),
      requestCert: opts.verifyClient !== undefined,
      // OpenSSL cannot judge a self-signed attested certificate; admit() does the real check.
      rejectUnauthorized: false,
      ALPNProtocols: ["h2"],
      handshakeTimeout: opts.handshakeTimeoutMs ?? 20_000,
    });
    this.tlsServer.on("connection", (socket: Socket) => {
      this.sockets.add(socket);
      socket.once("close", () => this.sockets.delete(socket));
    });
    this.tlsServer.on("secureConnection", (socket: tls.TLSSocket) => this.admit(socket));
    this.tlsServer.on("tlsClientError", (err: Error) => {
      this.log.debug({ err: err.message }, "TLS handshake failed");
    });
    opts.identity.on("renewed", () => this.reloadCertificate());
  }

  /** Registers a service implementation (see `unary()` for async handlers). */
  addService(service: grpc.ServiceDefinition, implementation: grpc.UntypedServiceImplementation): void {
    this.grpc.addService(service, implementation);
    for (const m of Object.values(service)) {
      const name = /^\/([^/]+)\//.exec(m.path)?.[1];
      if (name && !this.names.includes(name)) this.names.push(name);
    }
  }

  /** Fully-qualified names of the gRPC services registered so far (for health checks). */
  serviceNames(): readonly string[] {
    return this.names;
  }

  /** Starts listening on `host:port` (port 0 picks a free port); resolves to the bound port. */
  async listen(address: string): Promise<number> {
    if (this.state !== "idle") throw new Error(`attested server cannot listen: it is ${this.state}`);
    const { host, port } = parseHostPort(address);
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
    this.log.info({ host, port: bound, internal: this.opts.verifyClient !== undefined }, "listening");
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
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.grpc.forceShutdown();
        resolve();
      }, this.graceMs);
      this.grpc.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
    // Connections still in the handshake (or refused) are not grpc-js's to close.
    for (const socket of this.sockets) socket.destroy();
    await listenerClosed;
    this.state = "closed";
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
    if (reason === undefined) {
      this.injector.injectConnection(socket);
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
