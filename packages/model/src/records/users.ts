import { RecordFormatError } from "../read.js";
import type { RecordCodec } from "./codec.js";
import { rawCodec, recordType } from "./type.js";

/** PBKDF2 output and salt, hex. */
export interface PasswordHash {
  salt: string;
  hash: string;
}

/** An account in the authentication service's own database. */
export interface UserAccount {
  id: string;
  /** Token form, e.g. `DataOwner-bank`. */
  role: string;
  password: PasswordHash;
}

const HEX = /^[0-9a-f]*$/;

/** Cloister's own record (no legacy form): plain JSON, checked field by field on the way in. */
const accountCodec: RecordCodec<UserAccount> = {
  encode: (u) =>
    Buffer.from(
      JSON.stringify({ id: u.id, role: u.role, password: { salt: u.password.salt, hash: u.password.hash } }),
    ),
  decode(raw) {
    let v: unknown;
    try {
      v = JSON.parse(typeof raw === "string" ? raw : raw.toString("utf8"));
    } catch {
      throw new RecordFormatError("user account: not JSON");
    }
    const o = v as { id?: unknown; role?: unknown; password?: { salt?: unknown; hash?: unknown } } | null;
    const p = o?.password;
    if (
      typeof o?.id !== "string" ||
      typeof o.role !== "string" ||
      typeof p?.salt !== "string" ||
      typeof p.hash !== "string" ||
      !HEX.test(p.salt) ||
      !HEX.test(p.hash)
    )
      throw new RecordFormatError("user account: malformed");
    return { id: o.id, role: o.role, password: { salt: p.salt, hash: p.hash } };
  },
};

/** `user/<user id>`: one account (the authentication service's database, not management's). */
export const userAccounts = recordType<string, UserAccount>({
  name: "user account",
  prefix: "user/",
  codec: accountCodec,
  idOfSuffix: (s) => s,
});

/** `token-signing-key`: the HS512 key tokens are signed with (512 bytes, sealed at rest). */
export const tokenSigningKey = recordType<"token-signing-key", Buffer>({
  name: "token signing key",
  prefix: "token-signing-key",
  codec: rawCodec,
  suffix: () => "",
});
