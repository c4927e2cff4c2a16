import { parseRole, type Role, roleToString } from "@cloister/core";
import { type UserAccount, userAccounts } from "@cloister/model";
import type { RecordStore } from "@cloister/storage";
import { checkPassword, hashPassword, type PasswordHash } from "./passwords.js";

export type UserRecord = UserAccount;

/** User accounts in the authentication service's own sealed database (`userAccounts` records). */
export class UserDb {
  constructor(private readonly records: RecordStore) {}

  /** The account; a damaged record is an error (it is never treated as a missing account). */
  get(id: string): Promise<UserRecord | undefined> {
    return this.records.get(userAccounts, id);
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

  save(user: UserRecord): Promise<void> {
    return this.records.put(userAccounts, user.id, user);
  }

  delete(id: string): Promise<void> {
    return this.records.delete(userAccounts, id);
  }

  /** Every user id in ascending byte order. */
  ids(): Promise<string[]> {
    return this.records.list(userAccounts);
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
