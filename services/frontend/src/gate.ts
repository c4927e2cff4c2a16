import {
  authorisationRoleName,
  CloisterError,
  type Logger,
  parseRole,
  roleForAudit,
  Status,
  silentLogger,
} from "@cloister/core";
import type { AuditBuffer } from "./audit.js";

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

  constructor(private readonly deps: GateDeps) {
    this.log = deps.log ?? silentLogger;
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

  async call<T>(
    api: string,
    ctx: CallContext,
    forward: (caller: { id: string; role: string }) => Promise<T>,
  ): Promise<T> {
    const audit = (message: string, user: string, result: boolean) =>
      this.deps.audit.record({ microsecond: Date.now() * 1000, ip: ctx.ip, user, message, result });

    if (!ctx.id) {
      audit(`authenticate to ${api}: authentication failed`, "", false);
      throw new CloisterError(Status.UNAUTHENTICATED, "missing user id");
    }
    if (!ctx.token) {
      audit(`authenticate to ${api}: authentication failed`, "", false);
      throw new CloisterError(Status.UNAUTHENTICATED, "missing token");
    }
    let claims: Claims | undefined;
    try {
      claims = await this.deps.authenticate(ctx.id, ctx.token);
    } catch (e) {
      this.log.debug({ err: e, api }, "credential rejected");
    }
    if (!claims) {
      audit(`authenticate to ${api}: authentication failed`, "", false);
      throw new CloisterError(Status.UNAUTHENTICATED, "incorrent credential");
    }
    let accepted = false;
    try {
      accepted = await this.authorize(authorisationRoleName(claims.role), api);
    } catch (e) {
      this.log.warn({ err: e, api }, "access control unavailable; denying");
    }
    if (!accepted) {
      audit(`authenticate to ${api}`, "", false);
      throw new CloisterError(Status.PERMISSION_DENIED, "permission denied");
    }
    const user = `{ user: ${ctx.id}, role: ${roleForAudit(parseRole(claims.role))} }`;
    try {
      const response = await forward({ id: ctx.id, role: claims.role });
      audit(api, user, true);
      return response;
    } catch (e) {
      const code = (e as { code?: number }).code ?? Status.UNKNOWN;
      const message = (e as { details?: string }).details ?? (e as Error).message ?? "";
      audit(
        `${api}:status: ${CODE_NAMES[code] ?? "Unknown"}, message: ${JSON.stringify(message)}, details: [], metadata: MetadataMap { headers: {} }`,
        user,
        false,
      );
      throw e;
    }
  }
}
