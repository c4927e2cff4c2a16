import { randomBytes } from "node:crypto";
import { tokenSigningKey } from "@cloister/model";
import type { RecordStore } from "@cloister/storage";
import { errors, jwtVerify, SignJWT } from "jose";

export const TOKEN_ISSUER = "Teaclave";
export const TOKEN_LIFETIME_SECS = 86_400;

export interface Claims {
  sub: string;
  role: string;
  iss: string;
  exp: number;
}

/**
 * HS512 JWTs. Unlike the legacy service, the 512-byte key is kept in the
 * sealed database, so tokens survive a restart of the service (and replicas can share it); it
 * never leaves the service.
 */
export class TokenService {
  private constructor(private readonly key: Uint8Array) {}

  static async open(records: RecordStore): Promise<TokenService> {
    let key = await records.get(tokenSigningKey, "token-signing-key");
    if (key?.length !== 512) {
      key = randomBytes(512);
      await records.put(tokenSigningKey, "token-signing-key", key);
    }
    return new TokenService(new Uint8Array(key));
  }

  async issue(userId: string, role: string, nowSecs = Math.floor(Date.now() / 1000)): Promise<string> {
    return new SignJWT({ role })
      .setProtectedHeader({ typ: "JWT", alg: "HS512" })
      .setSubject(userId)
      .setIssuer(TOKEN_ISSUER)
      .setExpirationTime(nowSecs + TOKEN_LIFETIME_SECS)
      .sign(this.key);
  }

  /** Claims of a valid token whose subject is `userId`; undefined for anything else. */
  async validate(token: string, userId: string): Promise<Claims | undefined> {
    if (!isCanonicalCompactJws(token)) return undefined;
    try {
      const { payload } = await jwtVerify(token, this.key, {
        algorithms: ["HS512"],
        issuer: TOKEN_ISSUER,
        subject: userId,
        clockTolerance: 0,
      });
      if (typeof payload.role !== "string" || typeof payload.exp !== "number" || !payload.sub)
        return undefined;
      return { sub: payload.sub, role: payload.role, iss: TOKEN_ISSUER, exp: payload.exp };
    } catch (e) {
      if (e instanceof errors.JOSEError) return undefined;
      throw e;
    }
  }
}

/** Tokens we issue are far below this; anything longer is refused before any parsing. */
export const MAX_TOKEN_LENGTH = 4096;
const SEGMENT = /^[A-Za-z0-9_-]+$/;

/**
 * Exactly three unpadded base64url segments, each the canonical encoding of its bytes. JOSE
 * decoders tolerate padding and non-zero trailing bits, so `token + "=="` or a last character
 * changed in its unused bits would otherwise verify as the same token.
 */
export function isCanonicalCompactJws(token: string): boolean {
  if (token.length > MAX_TOKEN_LENGTH) return false;
  const parts = token.split(".");
  if (parts.length !== 3) return false;
  return parts.every(
    (part) => SEGMENT.test(part) && Buffer.from(part, "base64url").toString("base64url") === part,
  );
}
