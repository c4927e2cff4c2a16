import { once } from "node:events";
import { CloisterError, cloisterError, type Logger, silentLogger } from "@cloister/core";
import type * as grpc from "@grpc/grpc-js";
import { peerHost } from "./address.js";
import { toServiceError, unary } from "./errors.js";
import type { LocalRoute, StreamSink } from "./local-route.js";
import { type IdentityMetadata, readIdentityMetadata } from "./metadata.js";
import { peerOf } from "./peer.js";
import type { Admission, AttestedServer } from "./server.js";
import type { VerifiedPeerInfo } from "./types.js";

/** What the layers of one call know about it; layers add to it as they run. */
export interface RpcContext {
  /** `/package.Service/Method`. */
  readonly path: string;
  /** The generated (camelCase) method name. */
  readonly method: string;
  /** Teaclave's snake_case API name (what access control and audit entries use). */
  readonly api: string;
  readonly metadata: grpc.Metadata;
  /** The client's address (host part). */
  readonly address: string;
  /** `id`, `token`, `role` metadata (bounded and visible ASCII, else absent). */
  readonly identity: IdentityMetadata;
  /** The attested peer on internal endpoints (set once the body phase starts). */
  peer?: VerifiedPeerInfo | undefined;
  /** Who the call was authenticated as (set by an authentication layer). */
  principal?: { id: string; role: string } | undefined;
  /** Set by the authorisation layer once the call passed its policy. */
  authorised?: boolean;
  /** Milliseconds left before the call's deadline (capped by a deadline layer). */
  deadlineMs?: number;
  /** Server-streaming calls: aborts when the client cancels or goes away. */
  signal?: AbortSignal;
  /** Whether the client has cancelled (or its deadline passed); false before the body phase. */
  cancelled(): boolean;
}

/** The rest of the chain, down to the method's handler. */
export type Next = () => Promise<unknown>;

/**
 * One concern of every call (connect-es interceptors are the model). `admit` runs when the
 * headers arrive, before any byte of the message is read (throwing refuses the call with the
 * error's status); `intercept` wraps the handler and the layers inside it.
 */
export interface Layer {
  readonly name: string;
  admit?(ctx: RpcContext): Promise<void> | void;
  intercept?(ctx: RpcContext, request: unknown, next: Next): Promise<unknown>;
}

/**
 * Who may call a method. `public`: anyone (login); `authenticated`: any caller an authentication
 * layer admitted; `peer`: any attested peer the endpoint's connection check let in (internal
 * endpoints); a function decides per call (access control, a role check).
 */
export type Rule =
  | "public"
  | "authenticated"
  | "peer"
  | ((ctx: RpcContext, request: unknown) => Promise<boolean> | boolean);

type UnaryOf<T> = T extends grpc.handleUnaryCall<infer Q, infer R> ? [Q, R] : never;

type StreamOf<T> = T extends grpc.handleServerStreamingCall<infer Q, infer R> ? [Q, R] : never;

/**
 * A service's handlers, typed by the generated server interface: `async (request, ctx) =>
 * response` for unary methods; for server-streaming ones an async iterable of the messages to
 * send (the layers see the whole stream as one call: it ends when the iterable does).
 */
export type Handlers<S> = {
  // Generated server interfaces also carry grpc-js's index signature: only the named methods count.
  [K in keyof S as string extends K ? never : K]: S[K] extends grpc.handleServerStreamingCall<
    infer _Q,
    infer _R
  >
    ? (request: StreamOf<S[K]>[0], ctx: RpcContext) => AsyncIterable<StreamOf<S[K]>[1]>
    : (request: UnaryOf<S[K]>[0], ctx: RpcContext) => Promise<UnaryOf<S[K]>[1]>;
};

/** One rule per method; the type demands every method, and a method left out at runtime is refused. */
export type Policy<S> = { readonly [K in keyof S & string]: Rule };

/** The same rule for every method of `service` (an endpoint whose methods all have one caller). */
export function uniformPolicy<S>(service: grpc.ServiceDefinition, rule: Rule): Policy<S> {
  const policy: Record<string, Rule> = {};
  for (const method of Object.keys(service)) policy[method] = rule;
  return policy as Policy<S>;
}

export const snakeCase = (s: string): string => s.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/**
 * Authorisation by the service's policy. A method with no rule fails closed (NO_POLICY, which
 * the client sees as `permission denied`) and is logged: forgetting a rule must never open a
 * method.
 */
export function authorisation<S>(policy: Policy<S>, log: Logger = silentLogger): Layer {
  const rules = policy as Readonly<Record<string, Rule | undefined>>;
  return {
    name: "authorisation",
    async intercept(ctx, request, next) {
      const rule = Object.hasOwn(rules, ctx.method) ? rules[ctx.method] : undefined;
      if (rule === undefined) {
        log.error({ method: ctx.path }, "no authorisation policy for this method; refused");
        throw cloisterError("NO_POLICY");
      }
      let allowed: boolean;
      if (rule === "public") allowed = true;
      else if (rule === "authenticated") allowed = ctx.principal !== undefined;
      else if (rule === "peer") allowed = ctx.peer !== undefined;
      else allowed = await rule(ctx, request);
      if (!allowed) throw cloisterError("PERMISSION_DENIED");
      ctx.authorised = true;
      return next();
    },
  };
}

/**
 * Caps the call's deadline (and gives calls without one this deadline): what a forwarding
 * service uses for its own call onwards, so a hop never outlives its caller by much.
 */
export function deadline(maxMs: number): Layer {
  return {
    name: "deadline",
    intercept(ctx, _request, next) {
      ctx.deadlineMs = Math.min(maxMs, ctx.deadlineMs ?? maxMs);
      return next();
    },
  };
}

/** One debug line per call (method, outcome, milliseconds); failures the service did not anticipate at warn. */
export function logging(log: Logger): Layer {
  return {
    name: "logging",
    async intercept(ctx, _request, next) {
      const started = performance.now();
      try {
        const response = await next();
        // Checked first: the line's fields would be built on every call even with debug off.
        if (log.isLevelEnabled("debug"))
          log.debug({ method: ctx.method, ms: +(performance.now() - started).toFixed(2) }, "call");
        return response;
      } catch (e) {
        const kind = e instanceof CloisterError ? e.kind : undefined;
        const ms = +(performance.now() - started).toFixed(2);
        if (kind === undefined) log.warn({ method: ctx.method, ms, err: e }, "call failed");
        else log.debug({ method: ctx.method, ms, kind }, "call refused");
        throw e;
      }
    },
  };
}

export interface ServeOptions<S> {
  /** Outermost first. Admission runs in this order too. */
  layers: readonly Layer[];
  /** The authorisation rules; the authorisation layer runs innermost, right before the handler. */
  policy: Policy<S>;
  log?: Logger;
}

function remainingMs(call: grpc.ServerUnaryCall<unknown, unknown>): number | undefined {
  const d = call.getDeadline();
  const at = d instanceof Date ? d.getTime() : Number(d);
  return Number.isFinite(at) && at > 0 ? Math.max(0, at - Date.now()) : undefined;
}

/** Runs `layers` (outermost first) around `inner`. */
function chain(layers: readonly Layer[], ctx: RpcContext, request: unknown, inner: Next): Promise<unknown> {
  const run = (i: number): Promise<unknown> => {
    const layer = layers[i];
    if (!layer) return inner();
    return layer.intercept ? layer.intercept(ctx, request, () => run(i + 1)) : run(i + 1);
  };
  return run(0);
}

/**
 * Writes the handler's messages into `sink` with back-pressure. What fails once the client is
 * gone (a cancelled relay, an aborted wait) is no failure.
 */
async function pump(
  messages: AsyncIterable<unknown>,
  gone: AbortSignal,
  sink: StreamSink,
): Promise<undefined> {
  try {
    for await (const message of messages) {
      if (gone.aborted) break;
      if (!sink.write(message)) await sink.drained(gone);
    }
  } catch (e) {
    if (!gone.aborted) throw e;
  }
  return undefined;
}

/**
 * Registers `service` on `server` with its handlers behind `layers` and the policy: one place
 * where identity, authentication, authorisation, audit, deadlines and logging are composed,
 * instead of each service looping over its method names. The same composed chain is recorded
 * on `server` as each method's in-process route (`localClient`).
 */
export function serve<S>(
  server: AttestedServer,
  service: grpc.ServiceDefinition,
  handlers: Handlers<S>,
  options: ServeOptions<S>,
): void {
  const log = options.log ?? silentLogger;
  const layers = [...options.layers, authorisation(options.policy, log)];
  const admitting = layers.filter((l) => l.admit);
  const byPath = new Map<string, string>();
  const contexts = new WeakMap<grpc.Metadata, RpcContext>();
  const impl: grpc.UntypedServiceImplementation = {};
  const local = new Map<string, LocalRoute>();
  const table = handlers as Record<string, (request: unknown, ctx: RpcContext) => Promise<unknown>>;
  const streams = handlers as Record<string, (request: unknown, ctx: RpcContext) => AsyncIterable<unknown>>;
  const apis = new Map<string, string>();
  const context = (path: string, metadata: grpc.Metadata, address: string): RpcContext => {
    const method = byPath.get(path) ?? path;
    let api = apis.get(method);
    if (api === undefined) {
      api = snakeCase(method);
      if (byPath.has(path)) apis.set(method, api);
    }
    return {
      path,
      method,
      api,
      metadata,
      address,
      identity: readIdentityMetadata(metadata),
      cancelled: () => false,
    };
  };
  const admitContext = async (ctx: RpcContext): Promise<RpcContext> => {
    for (const layer of admitting) await layer.admit?.(ctx);
    return ctx;
  };
  for (const [method, def] of Object.entries(service)) {
    byPath.set(def.path, method);
    const handler = table[method];
    const produce = streams[method];
    const route: LocalRoute = {
      responseStream: def.responseStream,
      log,
      admit: (metadata, address) => admitContext(context(def.path, metadata, address)),
      unary: (ctx, request) =>
        chain(layers, ctx, request, () => {
          if (!handler) throw cloisterError("NO_POLICY");
          return handler(request, ctx);
        }),
      stream: (ctx, request, gone, sink) =>
        chain(layers, ctx, request, () => {
          if (!produce) throw cloisterError("NO_POLICY");
          return pump(produce(request, ctx), gone, sink);
        }),
    };
    if (!def.requestStream) local.set(def.path, route);
    if (def.responseStream && !def.requestStream) {
      impl[method] = streamHandler(def.path, route, log, (call) => {
        const ctx = contexts.get(call.metadata) ?? context(def.path, call.metadata, peerHost(call.getPeer()));
        ctx.peer = peerOf(call);
        ctx.cancelled = () => call.cancelled;
        return ctx;
      });
      continue;
    }
    impl[method] = unary(async (request: unknown, call: grpc.ServerUnaryCall<unknown, unknown>) => {
      const ctx = contexts.get(call.metadata) ?? context(def.path, call.metadata, peerHost(call.getPeer()));
      ctx.peer = peerOf(call);
      ctx.cancelled = () => call.cancelled;
      const left = remainingMs(call);
      if (left !== undefined) ctx.deadlineMs = left;
      return route.unary(ctx, request);
    }, log);
  }
  const admit: Admission = async ({ path, metadata, peer }) => {
    contexts.set(metadata, await admitContext(context(path, metadata, peer)));
  };
  server.addService(service, impl, admitting.length === 0 ? { local } : { admit, local });
}

/**
 * The abort reason of every stream whose client went away: grpc-js reports every stream's close
 * this way, and an Error per stream cost a stack trace each (a shared one carries no call data).
 */
const CLIENT_GONE = new Error("the client went away");

/**
 * A server-streaming method behind the layers: the chain's innermost step pumps the handler's
 * messages into the call (with back-pressure); a client that goes away aborts `ctx.signal` and
 * ends the stream quietly; a failure ends it with the error's status.
 */
function streamHandler(
  path: string,
  route: LocalRoute,
  log: Logger,
  contextOf: (call: grpc.ServerWritableStream<unknown, unknown>) => RpcContext,
): grpc.handleServerStreamingCall<unknown, unknown> {
  return (call) => {
    const gone = new AbortController();
    call.once("cancelled", () => gone.abort(CLIENT_GONE));
    const ctx = contextOf(call);
    ctx.signal = gone.signal;
    const left = remainingMs(call as unknown as grpc.ServerUnaryCall<unknown, unknown>);
    if (left !== undefined) ctx.deadlineMs = left;
    const sink: StreamSink = {
      write: (message) => call.write(message),
      drained: async (signal) => {
        await once(call, "drain", { signal });
      },
    };
    route.stream(ctx, call.request, gone.signal, sink).then(
      () => {
        if (!gone.signal.aborted) call.end();
      },
      (err: unknown) => {
        if (gone.signal.aborted) return;
        call.emit("error", toServiceError(err, log));
        log.debug({ method: path }, "stream ended with an error");
      },
    );
  };
}
