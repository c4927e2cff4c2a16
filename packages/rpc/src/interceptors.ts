import { CloisterError, cloisterError, type Logger, silentLogger } from "@cloister/core";
import type * as grpc from "@grpc/grpc-js";
import { unary } from "./errors.js";
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

/** A service's handlers: `async (request, ctx) => response`, typed by the generated server interface. */
export type Handlers<S> = {
  [K in keyof S]: (request: UnaryOf<S[K]>[0], ctx: RpcContext) => Promise<UnaryOf<S[K]>[1]>;
};

/** One rule per method; the type demands every method, and a method left out at runtime is refused. */
export type Policy<S> = { readonly [K in keyof S & string]: Rule };

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

const hostOf = (peer: string): string => {
  const p = peer.replace(/^ipv[46]:/, "");
  if (p.startsWith("[")) return p.slice(1, p.indexOf("]"));
  const i = p.lastIndexOf(":");
  return i > 0 && p.indexOf(":") === i ? p.slice(0, i) : p;
};

/**
 * Registers `service` on `server` with its handlers behind `layers` and the policy: one place
 * where identity, authentication, authorisation, audit, deadlines and logging are composed,
 * instead of each service looping over its method names.
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
  const table = handlers as Record<string, (request: unknown, ctx: RpcContext) => Promise<unknown>>;
  const context = (path: string, metadata: grpc.Metadata, address: string): RpcContext => {
    const method = byPath.get(path) ?? path;
    return {
      path,
      method,
      api: snakeCase(method),
      metadata,
      address,
      identity: readIdentityMetadata(metadata),
    };
  };
  for (const [method, def] of Object.entries(service)) {
    byPath.set(def.path, method);
    const handler = table[method];
    impl[method] = unary(async (request: unknown, call: grpc.ServerUnaryCall<unknown, unknown>) => {
      const ctx = contexts.get(call.metadata) ?? context(def.path, call.metadata, hostOf(call.getPeer()));
      ctx.peer = peerOf(call);
      const left = remainingMs(call);
      if (left !== undefined) ctx.deadlineMs = left;
      const run = (i: number): Promise<unknown> => {
        const layer = layers[i];
        if (!layer) {
          if (!handler) throw cloisterError("NO_POLICY");
          return handler(request, ctx);
        }
        return layer.intercept ? layer.intercept(ctx, request, () => run(i + 1)) : run(i + 1);
      };
      return run(0);
    }, log);
  }
  const admit: Admission = async ({ path, metadata, peer }) => {
    const ctx = context(path, metadata, peer);
    for (const layer of admitting) await layer.admit?.(ctx);
    contexts.set(metadata, ctx);
  };
  server.addService(service, impl, admitting.length === 0 ? {} : { admit });
}
