import { parseRole, type Role, roleToString } from "@cloister/core";
import type { Kv } from "./kv.js";
import { checkPassword, hashPassword, type PasswordHash } from "./passwords.js";

export interface UserRecord {
  id: string;
  role: string; // token form, e.g. "DataOwner-bank"
  password: PasswordHash;
}

const PREFIX = "user/";
const keyOf = (id: string) => Buffer.from(PREFIX + id, "utf8");

/** User accounts in the authentication service's own sealed database. */
export class UserDb {
  constructor(private readonly kv: Kv) {}

  async get(id: string): Promise<UserRecord | undefined> {
    const raw = await this.kv.get(keyOf(id));
    return raw ? (JSON.parse(raw.toString("utf8")) as UserRecord) : undefined;
  }

  async exists(id: string): Promise<boolean> {
    return (await this.get(id)) !== undefined;
  }

  async create(id: string, password: string, role: Role): Promise<void> {
    await this.save({ id, role: roleToString(role), password: await hashPassword(password) });
  }

  async setPassword(user: UserRecord, password: string): Promise<void> {
    await this.save({ ...user, password: await hashPassword(password) });
  }

  async save(user: UserRecord): Promise<void> {
    await this.kv.put(keyOf(user.id), Buffer.from(JSON.stringify(user), "utf8"));
  }

  async delete(id: string): Promise<void> {
    await this.kv.delete(keyOf(id));
  }

  /** Every user id in ascending byte order. */
  async ids(): Promise<string[]> {
    const keys = await this.kv.keysByPrefix(Buffer.from(PREFIX, "utf8"));
    return keys
      .map((k) => k.toString("utf8").slice(PREFIX.length))
      .sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  }

  /** Login check; false for unknown users too, after doing the same work, so timing says nothing. */
  async verify(id: string, password: string): Promise<UserRecord | undefined> {
    const user = await this.get(id);
    const ok = await checkPassword(password, user?.password ?? DUMMY_HASH);
    return user && ok ? user : undefined;
  }

  role(user: UserRecord): Role {
    return parseRole(user.role);
  }
}

const DUMMY_HASH: PasswordHash = { salt: "00".repeat(16), hash: "00".repeat(64) };
