import {
  authorisationRoleName,
  cloisterError,
  type Logger,
  parseRole,
  roleForAudit,
  Status,
  silentLogger,
} from "@cloister/core";
import { forLog, type Layer, RateLimiter, type Rule } from "@cloister/rpc";
import { type AuditBuffer, ipBytes } from "./audit.js";

export interface Claims {
  sub: string;
  role: string;
}

export interface GateDeps {
  /** authentication-internal UserAuthenticate; rejects on any failure. */
  authenticate(id: string, token: string): Promise<Claims | undefined>;
  /** access-control AuthorizeApi; rejects on transport failure. */
  authorize(role: string, api: string): Promise<boolean>;
  audit: AuditBuffer;
  log?: Logger;
  /** Calls per second (and burst) one authenticated user may make; default 500 (burst 2000). */
  userRate?: { perSecond: number; burst: number };
  /** Audit entries per second (and burst) of unauthenticated calls per address; default 5 (50). */
  unauthenticatedAuditRate?: { perSecond: number; burst: number };
}

export interface CallContext {
  id?: string | undefined;
  token?: string | undefined;
  /** Client address as 16 bytes (IPv4 mapped as ::a.b.c.d). */
  ip: Buffer;
}

const CODE_NAMES = Object.fromEntries(
  Object.entries(Status).map(([name, code]) => [
    code,
    name
      .split("_")
      .map((w) => w[0] + w.slice(1).toLowerCase())
      .join(""),
  ]),
) as Record<number, string>;

/**
 * The pipeline every frontend RPC goes through: credentials, token check
 * with authentication-internal, role/API check with access control, forward to management with
 * the token's role, audit the outcome. Management's errors pass through unchanged.
 */
export class FrontendGate {
  private readonly log: Logger;
  /**
   * Access-control answers for (role, api), kept briefly: the policy is fixed per deployment and
   * the table is tiny, so this saves a round trip on almost every call. Denials are not cached.
   */
  private readonly grants = new Map<string, number>();
  private static readonly GRANT_TTL_MS = 30_000;
  private readonly userRate: RateLimiter;
  private readonly anonymousAudit: RateLimiter;
  private suppressed = 0;

  constructor(private readonly deps: GateDeps) {
    this.log = deps.log ?? silentLogger;
    const u = deps.userRate ?? { perSecond: 500, burst: 2000 };
    this.userRate = new RateLimiter(u.perSecond, u.burst);
    const a = deps.unauthenticatedAuditRate ?? { perSecond: 5, burst: 50 };
    this.anonymousAudit = new RateLimiter(a.perSecond, a.burst);
  }

  /** Entries not stored because unauthenticated calls from their address exceeded the rate. */
  get suppressedAuditEntries(): number {
    return this.suppressed;
  }

  private record(ctx: CallContext, message: string, user: string, result: boolean): void {
    this.deps.audit.record({ microsecond: Date.now() * 1000, ip: ctx.ip, user, message, result });
  }

  /**
   * Audit of a call refused before authentication: anyone can cause these, so they are rate
   * limited per address (a flood must not fill the audit store); what is dropped is counted.
   */
  private recordAnonymous(ctx: CallContext, message: string): void {
    if (this.anonymousAudit.take(ctx.ip.toString("hex"))) {
      this.record(ctx, message, "", false);
      return;
    }
    if (this.suppressed++ % 1000 === 0)
      this.log.warn({ suppressed: this.suppressed }, "unauthenticated calls flood; audit entries dropped");
  }

  /**
   * The credential phase, run as soon as the call's metadata arrives and
   * before its message is read; then the per-user rate limit.
   */
  async authenticate(api: string, ctx: CallContext): Promise<Claims> {
    const failed = `authenticate to ${api}: authentication failed`;
    if (!ctx.id) {
      this.recordAnonymous(ctx, failed);
      throw cloisterError("MISSING_USER_ID");
    }
    if (!ctx.token) {
      this.recordAnonymous(ctx, failed);
      throw cloisterError("MISSING_TOKEN");
    }
    let claims: Claims | undefined;
    try {
      claims = await this.deps.authenticate(ctx.id, ctx.token);
    } catch (e) {
      this.log.debug({ err: e, api, user: forLog(ctx.id) }, "credential rejected");
    }
    if (!claims) {
      this.recordAnonymous(ctx, failed);
      throw cloisterError("INCORRECT_CREDENTIAL");
    }
    if (!this.userRate.take(ctx.id)) throw cloisterError("TOO_MANY_REQUESTS");
    return claims;
  }

  private async authorize(role: string, api: string): Promise<boolean> {
    const key = `${role}\u0000${api}`;
    const until = this.grants.get(key);
    if (until !== undefined && until > Date.now()) return true;
    const accepted = await this.deps.authorize(role, api);
    if (accepted) this.grants.set(key, Date.now() + FrontendGate.GRANT_TTL_MS);
    else this.grants.delete(key);
    return accepted;
  }

  /** Access control's answer for the token's role; an unreachable access control denies. */
  async allows(role: string, api: string, user: string): Promise<boolean> {
    try {
      return await this.authorize(authorisationRoleName(role), api);
    } catch (e) {
      this.log.warn({ err: e, api, user: forLog(user) }, "access control unavailable; denying");
      return false;
    }
  }

  /**
   * Runs an authenticated call and records its outcome: refused by authorisation (`authorised`
   * still false) as `authenticate to <api>`, else the API name, or the API name with the
   * failure's status in the legacy rendering.
   */
  async audited<T>(
    api: string,
    ctx: CallContext,
    caller: { id: string; role: string },
    authorised: () => boolean,
    run: () => Promise<T>,
  ): Promise<T> {
    const user = `{ user: ${caller.id}, role: ${roleForAudit(parseRole(caller.role))} }`;
    try {
      const response = await run();
      this.record(ctx, api, user, true);
      return response;
    } catch (e) {
      if (!authorised()) {
        this.record(ctx, `authenticate to ${api}`, "", false);
        throw e;
      }
      const code = (e as { code?: number }).code ?? Status.UNKNOWN;
      const message = (e as { details?: string }).details ?? (e as Error).message ?? "";
      this.record(
        ctx,
        `${api}:status: ${CODE_NAMES[code] ?? "Unknown"}, message: ${JSON.stringify(message)}, details: [], metadata: MetadataMap { headers: {} }`,
        user,
        false,
      );
      throw e;
    }
  }

  /**
   * The RPC layers of the frontend: authentication at admission (before the body is read) and
   * the audit of every authenticated call. Authorisation is the `rule` of every method.
   */
  layers(): Layer[] {
    return [
      {
        name: "authentication",
        admit: async (rc) => {
          const claims = await this.authenticate(rc.api, {
            id: rc.identity.id,
            token: rc.identity.token,
            ip: ipBytes(rc.address),
          });
          rc.principal = { id: rc.identity.id as string, role: claims.role };
        },
      },
      {
        name: "audit",
        intercept: (rc, _request, next) => {
          const caller = rc.principal;
          // Admission authenticated every call that gets here; a layer order mistake fails closed.
          if (!caller) throw cloisterError("INCORRECT_CREDENTIAL");
          return this.audited(
            rc.api,
            { ip: ipBytes(rc.address) },
            caller,
            () => rc.authorised === true,
            next,
          );
        },
      },
    ];
  }

  /** The authorisation rule of every frontend method: access control decides by role and API. */
  readonly rule: Rule = (rc) =>
    rc.principal ? this.allows(rc.principal.role, rc.api, rc.principal.id) : false;

  /**
   * The whole pipeline as one function (what the layers do for a served call); `admitted` are
   * the claims `authenticate` returned for this call when it already ran at admission.
   */
  async call<T>(
    api: string,
    ctx: CallContext,
    forward: (caller: { id: string; role: string }) => Promise<T>,
    admitted?: Claims,
  ): Promise<T> {
    const claims = admitted ?? (await this.authenticate(api, ctx));
    const caller = { id: ctx.id as string, role: claims.role };
    let authorised = false;
    return this.audited(
      api,
      ctx,
      caller,
      () => authorised,
      async () => {
        if (!(await this.allows(claims.role, api, caller.id))) throw cloisterError("PERMISSION_DENIED");
        authorised = true;
        return forward(caller);
      },
    );
  }
}
