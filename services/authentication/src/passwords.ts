import { pbkdf2, randomBytes, timingSafeEqual } from "node:crypto";
import { promisify } from "node:util";
import { cloisterError } from "@cloister/core";
import type { PasswordHash } from "@cloister/model";
import { QueueFullError, WorkQueue } from "@cloister/rpc";

const pbkdf2Raw = promisify(pbkdf2);

/**
 * Password hashing has its own queue: one hash at a time (each is ~100 ms of CPU on libuv's
 * thread pool), at most 256 waiting. A burst of logins then waits here instead of filling the
 * pool that token checks and file I/O also need; beyond the queue it is refused at once.
 */
const hashing = new WorkQueue(1, 256);

async function pbkdf2Async(
  password: string,
  salt: Buffer,
  iterations: number,
  bytes: number,
  digest: string,
) {
  try {
    return await hashing.run(() => pbkdf2Raw(password, salt, iterations, bytes, digest));
  } catch (e) {
    if (e instanceof QueueFullError) throw cloisterError("TOO_MANY_REQUESTS");
    throw e;
  }
}

// PBKDF2-HMAC-SHA512, 100 000 iterations, 16-byte salt, 64-byte key.
const ITERATIONS = 100_000;
const KEY_BYTES = 64;
const SALT_BYTES = 16;

export type { PasswordHash };

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
