import { createHash, timingSafeEqual } from "node:crypto";
import type { Claims } from "./gate.js";

interface Entry {
  digest: Buffer;
  claims: Claims;
  until: number;
}

export interface CredentialCacheOptions {
  /** How long a checked credential is trusted without asking authentication again. */
  ttlMs?: number;
  /** Credentials kept per user and in all (oldest dropped first). */
  perUser?: number;
  total?: number;
  now?: () => number;
}

/**
 * Credentials the frontend checked with authentication, kept for a few seconds so a user's
 * next calls skip that round trip. Safe because:
 * - it answers only while `live` (the frontend's WatchUserChanges stream is open), and a user's
 *   entries are dropped the moment authentication reports a change of that user (deleted,
 *   updated, password changed or reset); losing the stream forgets everything;
 * - an entry never outlives the token's own expiry, nor `ttlMs`;
 * - a check that was in flight while any change arrived is not kept (`begin`/`put` epochs);
 * - tokens are held only as SHA-256 digests, compared in constant time.
 * Every call is still authenticated (against this cache or authentication) and authorised.
 */
export class CredentialCache {
  private readonly entries = new Map<string, Entry[]>();
  private readonly ttlMs: number;
  private readonly perUser: number;
  private readonly total: number;
  private readonly now: () => number;
  private size = 0;
  private epoch = 0;
  private live = false;

  constructor(options: CredentialCacheOptions = {}) {
    this.ttlMs = options.ttlMs ?? 5000;
    this.perUser = options.perUser ?? 8;
    this.total = options.total ?? 10_000;
    this.now = options.now ?? Date.now;
  }

  private static digest(id: string, token: string): Buffer {
    return createHash("sha256").update(id).update("\u0000").update(token).digest();
  }

  /** The claims of a credential checked moments ago, if still trusted. */
  get(id: string, token: string): Claims | undefined {
    if (!this.live) return undefined;
    const list = this.entries.get(id);
    if (!list) return undefined;
    const digest = CredentialCache.digest(id, token);
    const now = this.now();
    let found: Claims | undefined;
    // Every entry is compared (no early exit), each in constant time.
    for (const e of list) if (timingSafeEqual(e.digest, digest) && e.until > now) found = e.claims;
    return found;
  }

  /** Marks the start of a check with authentication; pass the result to `put`. */
  begin(): number {
    return this.epoch;
  }

  /** Keeps the claims of a credential authentication accepted (unless anything changed meanwhile). */
  put(id: string, token: string, claims: Claims & { exp?: number }, epoch: number): void {
    if (!this.live || epoch !== this.epoch) return;
    const now = this.now();
    const until = Math.min(now + this.ttlMs, claims.exp ? claims.exp * 1000 : Number.POSITIVE_INFINITY);
    if (until <= now) return;
    const digest = CredentialCache.digest(id, token);
    const list = (this.entries.get(id) ?? []).filter((e) => e.until > now && !e.digest.equals(digest));
    this.size -= this.entries.get(id)?.length ?? 0;
    list.push({ digest, claims: { sub: claims.sub, role: claims.role }, until });
    while (list.length > this.perUser) list.shift();
    this.entries.delete(id);
    this.entries.set(id, list);
    this.size += list.length;
    // Oldest users first (Map order is insertion order; a refreshed user moved to the end).
    for (const [key, old] of this.entries) {
      if (this.size <= this.total) break;
      this.entries.delete(key);
      this.size -= old.length;
    }
  }

  /** Authentication reported a change of this user. */
  invalidate(id: string): void {
    this.epoch++;
    this.size -= this.entries.get(id)?.length ?? 0;
    this.entries.delete(id);
  }

  /** The change stream is up (true) or lost (false: everything is forgotten). */
  setLive(live: boolean): void {
    this.epoch++;
    this.live = live;
    if (!live) {
      this.entries.clear();
      this.size = 0;
    }
  }
}
