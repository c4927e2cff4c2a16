import { randomUUID } from "node:crypto";
import {
  cloisterError,
  type Logger,
  type Role,
  roleFromRequest,
  roleToString,
  silentLogger,
} from "@cloister/core";
import type { authentication } from "@cloister/proto";
import { forLog, RateLimiter } from "@cloister/rpc";
import { type RecordBackend, RecordStore } from "@cloister/storage";
import { type Claims, TokenService } from "./tokens.js";
import { UserDb, type UserRecord } from "./users.js";

type Api = typeof authentication;
type Req<K extends keyof Api> = Api[K] extends { decode(...a: never[]): infer R } ? R : never;

export interface Credential {
  id?: string | undefined;
  token?: string | undefined;
}

/** An authenticated caller of the authentication API. */
export interface Caller {
  user: UserRecord;
  role: Role;
  claims: Claims;
}

/** Login attempts per second (and burst) per client address and per user id. */
export interface LoginLimits {
  perAddress: { perSecond: number; burst: number };
  perUser: { perSecond: number; burst: number };
}
export const DEFAULT_LOGIN_LIMITS: LoginLimits = {
  perAddress: { perSecond: 20, burst: 100 },
  perUser: { perSecond: 10, burst: 30 },
};

/** The authentication API and its internal UserAuthenticate. */
export class AuthenticationService {
  private readonly loginsPerPeer: RateLimiter;
  private readonly loginsPerUser: RateLimiter;
  private readonly userListeners = new Set<(userId: string) => void>();

  private constructor(
    readonly users: UserDb,
    private readonly tokens: TokenService,
    private readonly log: Logger,
    limits: LoginLimits,
  ) {
    this.loginsPerPeer = new RateLimiter(limits.perAddress.perSecond, limits.perAddress.burst);
    this.loginsPerUser = new RateLimiter(limits.perUser.perSecond, limits.perUser.burst);
  }

  static async open(
    store: RecordBackend,
    log: Logger = silentLogger,
    limits: Partial<LoginLimits> = {},
  ): Promise<AuthenticationService> {
    const records = new RecordStore(store);
    const service = new AuthenticationService(new UserDb(records), await TokenService.open(records), log, {
      ...DEFAULT_LOGIN_LIMITS,
      ...limits,
    });
    await service.bootstrap();
    return service;
  }

  /** The platform's first administrator; an existing `admin` is left alone. */
  private async bootstrap(): Promise<void> {
    if (!(await this.users.exists("admin"))) {
      await this.users.create("admin", "teaclave", { name: "PlatformAdmin", attribute: "" });
      this.log.info("created the bootstrap PlatformAdmin account 'admin'");
    }
  }

  /** The credential check every call but UserLogin starts with (the server runs it at admission). */
  async authenticate(cred: Credential): Promise<Caller> {
    if (!cred.id) throw cloisterError("MISSING_USER_ID");
    if (!cred.token) throw cloisterError("MISSING_TOKEN");
    const claims = await this.tokens.validate(cred.token, cred.id);
    const user = claims && (await this.users.get(cred.id));
    if (!claims || !user) throw cloisterError("AUTHENTICATION_FAILED");
    // The role in the token stays authoritative until the token expires.
    return { user, claims, role: this.users.role({ ...user, role: claims.role }) };
  }

  /** A caller already authenticated at admission, or a credential to check now. */
  private resolve(who: Credential | Caller): Promise<Caller> {
    return "claims" in who ? Promise.resolve(who) : this.authenticate(who);
  }

  async userRegister(cred: Credential | Caller, req: Req<"UserRegisterRequest">): Promise<void> {
    const caller = await this.resolve(cred);
    if (!req.id) throw cloisterError("INVALID_USER_ID");
    if (await this.users.exists(req.id)) throw cloisterError("USER_ID_EXISTS");
    const role = roleFromRequest(req.role, req.attribute);
    if (!role) throw cloisterError("INVALID_ROLE");
    if (!mayRegister(caller.role, role)) throw cloisterError("USER_PERMISSION_DENIED");
    await this.users.create(req.id, req.password, role);
    this.log.info(
      { user: forLog(req.id), role: roleToString(role), by: forLog(caller.user.id) },
      "user registered",
    );
  }

  async userUpdate(cred: Credential | Caller, req: Req<"UserUpdateRequest">): Promise<void> {
    const caller = await this.resolve(cred);
    if (!req.id) throw cloisterError("INVALID_USER_ID");
    const target = await this.users.get(req.id);
    if (!target) throw cloisterError("INVALID_USER_ID");
    const role = roleFromRequest(req.role, req.attribute);
    if (!role) throw cloisterError("INVALID_ROLE");
    // Like reset and delete, a manager may only touch its own group's data owners: without the
    // check on the target's current role it could take over any account (docs/decisions.md).
    if (!mayUpdate(caller.role, role) || !mayManage(caller.role, this.users.role(target)))
      throw cloisterError("USER_PERMISSION_DENIED");
    await this.users.setPassword({ ...target, role: roleToString(role) }, req.password);
    this.changed(req.id);
    this.log.info(
      { user: forLog(req.id), role: roleToString(role), by: forLog(caller.user.id) },
      "user updated",
    );
  }

  /** `peer` is the client's address, for the per-address rate limit. */
  async userLogin(req: Req<"UserLoginRequest">, peer = ""): Promise<string> {
    if (!req.id || !req.password) throw cloisterError("AUTHENTICATION_FAILED");
    // Checked before any hashing, so a burst costs no CPU; both buckets are charged.
    const peerOk = this.loginsPerPeer.take(peer);
    if (!this.loginsPerUser.take(req.id) || !peerOk) throw cloisterError("TOO_MANY_REQUESTS");
    const user = await this.users.verify(req.id, req.password);
    if (!user) throw cloisterError("AUTHENTICATION_FAILED");
    return this.tokens.issue(user.id, user.role);
  }

  async userChangePassword(cred: Credential | Caller, req: Req<"UserChangePasswordRequest">): Promise<void> {
    const caller = await this.resolve(cred);
    if (!req.password) throw cloisterError("AUTHENTICATION_FAILED");
    // The caller's role is rewritten from its token, as the legacy service does.
    await this.users.setPassword({ ...caller.user, role: caller.claims.role }, req.password);
    this.changed(caller.user.id);
  }

  async resetUserPassword(cred: Credential | Caller, req: Req<"ResetUserPasswordRequest">): Promise<string> {
    const caller = await this.resolve(cred);
    if (!req.id) throw cloisterError("INVALID_USER_ID");
    const target = await this.users.get(req.id);
    if (!target) throw cloisterError("USER_PERMISSION_DENIED");
    if (!mayManage(caller.role, this.users.role(target))) throw cloisterError("USER_PERMISSION_DENIED");
    const password = randomUUID().replaceAll("-", "");
    await this.users.setPassword(target, password);
    this.changed(req.id);
    return password;
  }

  async deleteUser(cred: Credential | Caller, req: Req<"DeleteUserRequest">): Promise<void> {
    const caller = await this.resolve(cred);
    if (!req.id) throw cloisterError("INVALID_USER_ID");
    const target = await this.users.get(req.id);
    if (!target) throw cloisterError("USER_PERMISSION_DENIED");
    if (!mayManage(caller.role, this.users.role(target))) throw cloisterError("USER_PERMISSION_DENIED");
    await this.users.delete(req.id);
    this.changed(req.id);
    this.log.info({ user: forLog(req.id), by: forLog(caller.user.id) }, "user deleted");
  }

  async listUsers(cred: Credential | Caller, req: Req<"ListUsersRequest">): Promise<string[]> {
    const caller = await this.resolve(cred);
    if (!req.id) throw cloisterError("INVALID_USER_ID");
    const { name, attribute } = caller.role;
    if (name === "PlatformAdmin") return this.users.ids();
    if (name !== "DataOwnerManager" || req.id !== attribute) throw cloisterError("USER_PERMISSION_DENIED");
    const out: string[] = [];
    for (const id of await this.users.ids()) {
      const user = await this.users.get(id);
      if (user && user.role === `DataOwner-${attribute}`) out.push(id);
    }
    return out;
  }

  /**
   * Calls `listener` with the id of every user whose account changes from now on (update,
   * password change or reset, deletion), after the change is stored; returns the unsubscribe.
   * Frontends drop what they cached about the user (CloisterAuthenticationInternal).
   */
  onUserChange(listener: (userId: string) => void): () => void {
    this.userListeners.add(listener);
    return () => this.userListeners.delete(listener);
  }

  private changed(userId: string): void {
    for (const l of this.userListeners) l(userId);
  }

  /** Internal endpoint: validate a credential for the frontend. */
  async userAuthenticate(credential: Credential | undefined): Promise<Claims> {
    if (!credential?.id || !credential.token) throw cloisterError("AUTHENTICATION_FAILED");
    const claims = await this.tokens.validate(credential.token, credential.id);
    if (!claims || !(await this.users.exists(credential.id))) throw cloisterError("AUTHENTICATION_FAILED");
    return claims;
  }
}

// Who may manage whom.
function mayRegister(caller: Role, target: Role): boolean {
  switch (caller.name) {
    case "PlatformAdmin":
      return true;
    case "FunctionOwner":
      return target.name === "DataOwnerManager";
    case "DataOwnerManager":
      return target.name === "DataOwner" && target.attribute === caller.attribute;
    default:
      return false;
  }
}

function mayUpdate(caller: Role, newRole: Role): boolean {
  if (caller.name === "PlatformAdmin") return true;
  return (
    caller.name === "DataOwnerManager" &&
    newRole.name === "DataOwner" &&
    newRole.attribute === caller.attribute
  );
}

/** Reset password / delete: admins anyone, managers only their own group's data owners. */
function mayManage(caller: Role, current: Role): boolean {
  if (caller.name === "PlatformAdmin") return true;
  return (
    caller.name === "DataOwnerManager" &&
    current.name === "DataOwner" &&
    current.attribute === caller.attribute
  );
}
