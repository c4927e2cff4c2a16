import type { Socket } from "node:net";
import type { TLSSocket } from "node:tls";
import type { Logger } from "@cloister/core";

export interface ConnectionLimits {
  /** Open connections in total; beyond it new ones are closed at once. */
  maxConnections: number;
  /** Open connections from one address, so one peer cannot take every slot. */
  maxConnectionsPerPeer: number;
  /** Connections still in the TLS handshake from one address. */
  maxHandshakingPerPeer: number;
  /** A connection that has not finished TLS by then is closed. */
  handshakeTimeoutMs: number;
  /** A connection that has not sent the HTTP/2 preface this long after TLS is closed. */
  prefaceTimeoutMs: number;
  /** API endpoints: a connection with no call for this long is closed (clients reconnect). */
  idleConnectionMs: number;
  /** HTTP/2 streams per connection. */
  maxConcurrentStreams: number;
  /** Calls in progress from one address, and in total (each buffers at most its method's limit). */
  maxCallsPerPeer: number;
  maxCalls: number;
}

export const DEFAULT_CONNECTION_LIMITS: ConnectionLimits = {
  maxConnections: 4096,
  maxConnectionsPerPeer: 512,
  maxHandshakingPerPeer: 64,
  handshakeTimeoutMs: 20_000,
  prefaceTimeoutMs: 10_000,
  idleConnectionMs: 10 * 60_000,
  maxConcurrentStreams: 100,
  maxCallsPerPeer: 256,
  maxCalls: 2048,
};

/** Counting and timers behind AttestedServer's connection hygiene. */
export class ConnectionLimiter {
  private total = 0;
  private readonly perPeer = new Map<string, number>();
  private readonly handshaking = new Map<string, number>();
  private readonly pending = new Map<string, { raw: Socket; timer: NodeJS.Timeout; address: string }>();
  private calls = 0;
  private readonly callsPerPeer = new Map<string, number>();
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(
    private readonly limits: ConnectionLimits,
    private readonly log: Logger,
  ) {}

  /** On a new TCP connection: false (and the socket destroyed) when over a cap. */
  accept(raw: Socket): boolean {
    const address = raw.remoteAddress ?? "";
    const fromPeer = this.perPeer.get(address) ?? 0;
    const shaking = this.handshaking.get(address) ?? 0;
    if (
      this.total >= this.limits.maxConnections ||
      fromPeer >= this.limits.maxConnectionsPerPeer ||
      shaking >= this.limits.maxHandshakingPerPeer
    ) {
      this.log.debug({ remote: address }, "connection refused: too many connections");
      raw.destroy();
      return false;
    }
    this.total++;
    this.perPeer.set(address, fromPeer + 1);
    this.handshaking.set(address, shaking + 1);
    const key = `${address}\u0000${raw.remotePort}`;
    // Node's own handshakeTimeout does not cover a peer that never sends a ClientHello.
    const timer = setTimeout(() => {
      this.log.debug({ remote: address }, "TLS handshake timed out");
      raw.destroy();
    }, this.limits.handshakeTimeoutMs);
    timer.unref();
    this.pending.set(key, { raw, timer, address });
    raw.once("close", () => {
      this.handshakeDone(key);
      this.total--;
      const n = (this.perPeer.get(address) ?? 1) - 1;
      if (n <= 0) this.perPeer.delete(address);
      else this.perPeer.set(address, n);
    });
    return true;
  }

  private handshakeDone(key: string): void {
    const p = this.pending.get(key);
    if (!p) return;
    clearTimeout(p.timer);
    this.pending.delete(key);
    const n = (this.handshaking.get(p.address) ?? 1) - 1;
    if (n <= 0) this.handshaking.delete(p.address);
    else this.handshaking.set(p.address, n);
  }

  /**
   * After TLS and admission: the handshake timer stops, and `ready` runs once the client has
   * sent its first bytes (the HTTP/2 preface). A connection that sends nothing in time is
   * closed. The bytes stay buffered in the socket; Node's HTTP/2 session reads them first.
   */
  awaitPreface(socket: TLSSocket, ready: () => void): void {
    this.handshakeDone(`${socket.remoteAddress ?? ""}\u0000${socket.remotePort}`);
    const onReadable = () => {
      clearTimeout(timer);
      this.timers.delete(timer);
      socket.off("close", onClose);
      if (!socket.destroyed) ready();
    };
    const onClose = () => {
      clearTimeout(timer);
      this.timers.delete(timer);
      socket.off("readable", onReadable);
    };
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      socket.off("readable", onReadable);
      this.log.debug({ remote: socket.remoteAddress }, "no HTTP/2 preface; closing");
      socket.destroy();
    }, this.limits.prefaceTimeoutMs);
    timer.unref();
    this.timers.add(timer);
    socket.once("readable", onReadable);
    socket.once("close", onClose);
  }

  /** A call from `peer` begins: its release function, or undefined when over a cap. */
  startCall(peer: string): (() => void) | undefined {
    const n = this.callsPerPeer.get(peer) ?? 0;
    if (this.calls >= this.limits.maxCalls || n >= this.limits.maxCallsPerPeer) return undefined;
    this.calls++;
    this.callsPerPeer.set(peer, n + 1);
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.calls--;
      const m = (this.callsPerPeer.get(peer) ?? 1) - 1;
      if (m <= 0) this.callsPerPeer.delete(peer);
      else this.callsPerPeer.set(peer, m);
    };
  }

  close(): void {
    for (const t of this.timers) clearTimeout(t);
    for (const p of this.pending.values()) clearTimeout(p.timer);
  }
}
