import { pbkdf2, randomBytes, timingSafeEqual } from "node:crypto";
import { promisify } from "node:util";

const pbkdf2Async = promisify(pbkdf2);

// PBKDF2-HMAC-SHA512, 100 000 iterations, 16-byte salt, 64-byte key.
const ITERATIONS = 100_000;
const KEY_BYTES = 64;
const SALT_BYTES = 16;

export interface PasswordHash {
  salt: string; // hex
  hash: string; // hex
}

export async function hashPassword(password: string): Promise<PasswordHash> {
  const salt = randomBytes(SALT_BYTES);
  const hash = await pbkdf2Async(password, salt, ITERATIONS, KEY_BYTES, "sha512");
  return { salt: salt.toString("hex"), hash: hash.toString("hex") };
}

export async function checkPassword(password: string, stored: PasswordHash): Promise<boolean> {
  const expected = Buffer.from(stored.hash, "hex");
  const actual = await pbkdf2Async(
    password,
    Buffer.from(stored.salt, "hex"),
    ITERATIONS,
    KEY_BYTES,
    "sha512",
  );
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}
