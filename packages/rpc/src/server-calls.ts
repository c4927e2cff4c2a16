import { EventEmitter } from "node:events";
import { Status } from "@cloister/core";
import type * as grpc from "@grpc/grpc-js";
import type { WireCall } from "./http2-server.js";

type AuthContext = ReturnType<grpc.ServerUnaryCall<unknown, unknown>["getAuthContext"]>;
type ConnectionInfo = ReturnType<grpc.ServerInterceptingCallInterface["getConnectionInfo"]>;

/**
 * The call objects a grpc-js handler is given (`(call, callback)` for unary methods, `(call)`
 * for server streams), as our HTTP/2 server presents them to handlers registered with a bare
 * `addService` (grpc.health.v1, tests, benchmarks): the members those handlers use, with
 * grpc-js's meaning. Methods registered with `serve()` get no such object.
 */
export type RawCall = EventEmitter;

/** grpc-js's reading of a handler's error: its code and details when it has them, else 2. */
export function statusOfServerError(
  err: unknown,
  trailer?: grpc.Metadata,
): { code: number; details: string; metadata: grpc.Metadata | null } {
  const e = (typeof err === "object" && err !== null ? err : {}) as Partial<grpc.ServiceError>;
  let code: number = Status.UNKNOWN;
  let details = typeof e.message === "string" ? e.message : "Unknown Error";
  if (typeof e.code === "number" && Number.isInteger(e.code)) {
    code = e.code;
    if (typeof e.details === "string") details = e.details;
  }
  return { code, details, metadata: trailer ?? e.metadata ?? null };
}

class UnaryCall extends EventEmitter {
  constructor(
    protected readonly wire: WireCall,
    readonly request: unknown,
  ) {
    super();
  }
  get metadata(): grpc.Metadata {
    return this.wire.metadata;
  }
  get cancelled(): boolean {
    return this.wire.cancelled;
  }
  getPeer(): string {
    const s = this.wire.socket;
    return s?.remoteAddress
      ? s.remotePort
        ? `${s.remoteAddress}:${s.remotePort}`
        : s.remoteAddress
      : "unknown";
  }
  getPath(): string {
    return this.wire.path;
  }
  getDeadline(): number {
    return this.wire.deadline;
  }
  getHost(): string {
    return this.wire.authority;
  }
  sendMetadata(metadata: grpc.Metadata): void {
    this.wire.sendMetadata(metadata);
  }
  /** As grpc-js: the peer certificate only for a socket the attestation check authorised. */
  getAuthContext(): AuthContext {
    const s = this.wire.socket;
    if (!s?.authorized) return { transportSecurityType: "ssl" } as AuthContext;
    return { transportSecurityType: "ssl", sslPeerCertificate: s.getPeerCertificate() } as AuthContext;
  }
  getConnectionInfo(): ConnectionInfo {
    const s = this.wire.socket;
    return {
      localAddress: s?.localAddress,
      localPort: s?.localPort,
      remoteAddress: s?.remoteAddress,
      remotePort: s?.remotePort,
    } as ConnectionInfo;
  }
}

class ServerStreamCall extends UnaryCall {
  private ended = false;
  constructor(wire: WireCall, request: unknown) {
    super(wire, request);
    // grpc-js: an "error" emitted on the call ends it with that error's status.
    this.on("error", (err: unknown) => {
      if (this.ended) return;
      this.ended = true;
      const s = statusOfServerError(err);
      wire.sendStatus(s.code, s.details, s.metadata);
    });
    wire.stream.on("drain", () => this.emit("drain"));
  }
  write(message: unknown, callback?: (err?: Error | null) => void): boolean {
    const ok = this.ended ? false : this.wire.write(message);
    if (callback) queueMicrotask(() => callback());
    return ok;
  }
  end(metadata?: grpc.Metadata | (() => void)): this {
    if (!this.ended) {
      this.ended = true;
      this.wire.sendStatus(Status.OK, "OK", typeof metadata === "object" ? metadata : null);
    }
    return this;
  }
}

export function rawUnaryCall(wire: WireCall, request: unknown): RawCall {
  return new UnaryCall(wire, request);
}

export function rawServerStreamCall(wire: WireCall, request: unknown): RawCall {
  return new ServerStreamCall(wire, request);
}
