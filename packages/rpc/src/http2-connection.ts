import * as http2 from "node:http2";
import * as net from "node:net";
import { parseHostPort } from "./address.js";
import { type AttestedChannelCredentials, serverName } from "./channel.js";

/** What a connection of the node:http2 transport is configured with (createClient's options). */
export interface ConnectionOptions {
  /** Interval of keepalive pings while calls are active; 0 turns them off. */
  keepaliveMs: number;
  /** A ping not acknowledged within this closes the session (its calls fail UNAVAILABLE). */
  keepaliveTimeoutMs: number;
  /** First wait after a failed connection attempt (grpc-js: 1 s; ours 500 ms), growing 1.6× per failure. */
  initialBackoffMs: number;
  maxBackoffMs: number;
  /** TCP connect + TLS handshake + attestation + the server's HTTP/2 settings must finish within this. */
  connectTimeoutMs: number;
}

const BACKOFF_MULTIPLIER = 1.6;
const BACKOFF_JITTER = 0.2;
/** What a closed connection answers (grpc-js's text for a call on a closed channel). */
export const SHUT_DOWN = "Channel has been shut down";

/** A ready HTTP/2 session over an attested TLS socket, with the calls in flight on it. */
export class LiveSession {
  /** The connection was lost (closed, errored, keepalive timeout): calls on it without a status are UNAVAILABLE. */
  dropped = false;
  private active = 0;
  private closing = false;
  private keepalive: NodeJS.Timeout | undefined;

  constructor(
    readonly session: http2.ClientHttp2Session,
    private readonly opts: ConnectionOptions,
  ) {}

  get usable(): boolean {
    return !this.dropped && !this.session.closed && !this.session.destroyed;
  }

  /** A call started on this session: the process stays alive and keepalive runs while any is in flight. */
  begin(): void {
    if (this.active++ === 0) {
      this.session.ref();
      if (!this.keepalive && this.opts.keepaliveMs > 0) this.armKeepalive();
    }
  }

  end(): void {
    if (--this.active > 0 || this.session.destroyed) return;
    if (this.closing) this.session.close();
    else this.session.unref();
  }

  /**
   * Closes the session once the calls on it have ended. (Node submits a new stream on the next
   * tick: a session closed in the tick a call started on it would refuse that call.)
   */
  closeWhenIdle(): void {
    this.closing = true;
    if (this.active === 0) this.session.close();
  }

  private armKeepalive(): void {
    this.keepalive = setTimeout(() => this.ping(), this.opts.keepaliveMs);
    this.keepalive.unref();
  }

  /** One ping per interval while calls are active (grpc-js: keepalive_permit_without_calls 0). */
  private ping(): void {
    this.keepalive = undefined;
    if (this.active === 0 || !this.usable) return;
    const timeout = setTimeout(() => {
      this.dropped = true;
      this.session.destroy(new Error("keepalive ping timed out"));
    }, this.opts.keepaliveTimeoutMs);
    timeout.unref();
    try {
      this.session.ping((err) => {
        clearTimeout(timeout);
        if (!err && this.active > 0 && this.usable) this.armKeepalive();
      });
    } catch {
      clearTimeout(timeout);
    }
  }
}

type Waiter = {
  waitForReady: boolean;
  /** Called once: with the session, or with the text of why there is none. */
  done: (live: LiveSession | undefined, error?: string) => void;
};

/**
 * One target's connection state for the node:http2 transport: at most one usable session at a
 * time, (re)connected on demand. A connection attempt is TCP, then the attested handshake of
 * AttestedChannelCredentials (HTTP/2 starts only on a verified socket), then the server's
 * SETTINGS. After a failure, calls that do not wait for ready fail fast with its text until the
 * backoff has passed; wait-for-ready calls wait, and attempts repeat with backoff while any waits.
 * A GOAWAY or a lost session makes the next call connect anew; calls in progress on a session
 * that received GOAWAY finish on it.
 */
export class Connection {
  private live: LiveSession | undefined;
  private connecting = false;
  private waiters: Waiter[] = [];
  private lastError: string | undefined;
  private retryAt = 0;
  private backoffMs: number;
  private retryTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private refs = 0;
  readonly host: string;
  readonly port: number;
  /** `host:port` as grpc-js shows a peer. */
  readonly peer: string;

  constructor(
    target: string,
    private readonly credentials: AttestedChannelCredentials,
    private readonly opts: ConnectionOptions,
    private readonly onUnused: () => void,
  ) {
    const { host, port } = parseHostPort(target);
    this.host = host;
    this.port = port;
    this.peer = target;
    this.backoffMs = opts.initialBackoffMs;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  acquire(): void {
    this.refs++;
  }

  /** The last client let go: the session closes once its calls in progress have ended. */
  release(): void {
    if (--this.refs > 0 || this.closed) return;
    this.closed = true;
    this.onUnused();
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.live?.closeWhenIdle();
    this.live = undefined;
    const waiters = this.waiters.splice(0);
    for (const w of waiters) w.done(undefined, SHUT_DOWN);
  }

  /** The usable session now (the fast path of every call), or undefined. */
  ready(): LiveSession | undefined {
    const live = this.live;
    if (live?.usable) return live;
    if (live) this.live = undefined;
    return undefined;
  }

  /** Forget a session that refused a new stream (GOAWAY raced with the call). */
  discard(live: LiveSession): void {
    if (this.live === live) this.live = undefined;
  }

  /**
   * Calls `done` with a session once there is one, or with why not: at once when closed or (not
   * wait-for-ready) failing; returns a function that withdraws the wait (deadline, cancel).
   */
  whenReady(waitForReady: boolean, done: Waiter["done"]): () => void {
    if (this.closed) {
      process.nextTick(done, undefined, SHUT_DOWN);
      return () => {};
    }
    const live = this.ready();
    if (live) {
      process.nextTick(done, live);
      return () => {};
    }
    const waiter: Waiter = { waitForReady, done };
    if (!this.connecting && this.lastError !== undefined && Date.now() < this.retryAt) {
      if (!waitForReady) {
        process.nextTick(done, undefined, this.lastError);
        return () => {};
      }
      this.waiters.push(waiter);
      this.scheduleRetry();
    } else {
      this.waiters.push(waiter);
      this.connect();
    }
    return () => {
      const i = this.waiters.indexOf(waiter);
      if (i >= 0) this.waiters.splice(i, 1);
      if (this.waiters.length === 0 && this.retryTimer) {
        clearTimeout(this.retryTimer);
        this.retryTimer = undefined;
      }
    };
  }

  private scheduleRetry(): void {
    if (this.retryTimer || this.connecting || this.closed) return;
    this.retryTimer = setTimeout(
      () => {
        this.retryTimer = undefined;
        if (this.waiters.length > 0) this.connect();
      },
      Math.max(0, this.retryAt - Date.now()),
    );
  }

  private connect(): void {
    if (this.connecting || this.closed) return;
    this.connecting = true;
    let settled = false;
    let session: http2.ClientHttp2Session | undefined;
    const socket = net.connect({ host: this.host, port: this.port });
    socket.setNoDelay(true);
    const fail = (err: unknown) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      session?.destroy();
      this.failed(err instanceof Error ? err.message : String(err));
    };
    const timer = setTimeout(
      () => fail(new Error("connection attempt timed out")),
      this.opts.connectTimeoutMs,
    );
    socket.once("error", fail);
    socket.once("close", () => fail(new Error("connection closed before it was established")));
    socket.once("connect", () => {
      socket.removeAllListeners("error");
      socket.removeAllListeners("close");
      // Failures from here on reach us through the TLS socket and the session; this only keeps
      // an error of the raw socket from being thrown.
      socket.on("error", () => {});
      this.credentials.handshake(socket, serverName(this.host)).then((tlsSocket) => {
        if (settled) {
          tlsSocket.destroy();
          return;
        }
        // The socket is verified: only now does HTTP/2 start (the client preface is its first byte).
        const s = http2.connect(`https://${this.peer}`, {
          createConnection: () => tlsSocket,
          settings: { enablePush: false },
          // Node's 10 MB session budget would refuse streams of large messages in flight; every
          // message is bounded by the call's receive limit and HTTP/2 flow control instead.
          maxSessionMemory: Number.MAX_SAFE_INTEGER,
        });
        session = s;
        s.once("error", fail);
        s.once("close", () => fail(new Error("connection closed before HTTP/2 settings")));
        s.once("remoteSettings", () => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          s.removeAllListeners("error");
          s.removeAllListeners("close");
          this.established(s);
        });
      }, fail);
    });
  }

  private failed(message: string): void {
    this.connecting = false;
    this.lastError = message;
    const jitter = 1 + BACKOFF_JITTER * (Math.random() * 2 - 1);
    this.retryAt = Date.now() + this.backoffMs * jitter;
    this.backoffMs = Math.min(this.backoffMs * BACKOFF_MULTIPLIER, this.opts.maxBackoffMs);
    const waiting = this.waiters;
    this.waiters = [];
    for (const w of waiting) {
      if (w.waitForReady) this.waiters.push(w);
      else w.done(undefined, message);
    }
    if (this.waiters.length > 0) this.scheduleRetry();
  }

  private established(session: http2.ClientHttp2Session): void {
    this.connecting = false;
    const live = new LiveSession(session, this.opts);
    session.unref();
    const lost = () => {
      live.dropped = true;
      if (this.live === live) this.live = undefined;
    };
    // Errors end in "close"; the listener only keeps them from being thrown.
    session.on("error", () => {});
    session.once("close", lost);
    // Streams the server still serves finish on this session; new calls open a new one.
    session.once("goaway", () => {
      if (this.live === live) this.live = undefined;
    });
    if (this.closed) {
      session.close();
      return;
    }
    this.lastError = undefined;
    this.backoffMs = this.opts.initialBackoffMs;
    this.live = live;
    const waiting = this.waiters.splice(0);
    for (const w of waiting) w.done(live);
  }
}

/**
 * Connections shared by every client made with the same credentials object for the same target
 * and keepalive settings, as grpc-js shares subchannels between channels with equal credentials.
 */
const pools = new WeakMap<AttestedChannelCredentials, Map<string, Connection>>();

export function acquireConnection(
  credentials: AttestedChannelCredentials,
  target: string,
  opts: ConnectionOptions,
): Connection {
  let pool = pools.get(credentials);
  if (!pool) {
    pool = new Map();
    pools.set(credentials, pool);
  }
  const key = `${target}|${opts.keepaliveMs}|${opts.keepaliveTimeoutMs}`;
  let connection = pool.get(key);
  if (!connection || connection.isClosed) {
    const own = pool;
    const created: Connection = new Connection(target, credentials, opts, () => {
      if (own.get(key) === created) own.delete(key);
    });
    connection = created;
    pool.set(key, connection);
  }
  connection.acquire();
  return connection;
}
