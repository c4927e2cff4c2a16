import assert from "node:assert/strict";
import { test } from "node:test";
import { CredentialCache } from "../src/credentials.js";

const claims = { sub: "alice", role: "DataOwner-bank" };

function cache(start = 1_000_000) {
  let now = start;
  const c = new CredentialCache({ ttlMs: 5000, perUser: 2, total: 3, now: () => now });
  return { c, advance: (ms: number) => (now += ms), now: () => now };
}

test("nothing is answered while the change stream is down, and losing it forgets everything", () => {
  const { c } = cache();
  c.put("alice", "t1", claims, c.begin());
  assert.equal(c.get("alice", "t1"), undefined, "not live: not even kept");
  c.setLive(true);
  c.put("alice", "t1", claims, c.begin());
  assert.deepEqual(c.get("alice", "t1"), claims);
  c.setLive(false);
  c.setLive(true);
  assert.equal(c.get("alice", "t1"), undefined);
});

test("only the exact id and token match; another token or user is asked again", () => {
  const { c } = cache();
  c.setLive(true);
  c.put("alice", "t1", claims, c.begin());
  assert.equal(c.get("alice", "t2"), undefined);
  assert.equal(c.get("bob", "t1"), undefined);
  assert.equal(c.get("alice", "t1x"), undefined);
});

test("a user change drops that user's credentials at once; a check in flight across a change is not kept", () => {
  const { c } = cache();
  c.setLive(true);
  c.put("alice", "t1", claims, c.begin());
  c.put("bob", "t9", { sub: "bob", role: "PlatformAdmin" }, c.begin());
  const inFlight = c.begin();
  c.invalidate("alice");
  assert.equal(c.get("alice", "t1"), undefined);
  assert.ok(c.get("bob", "t9"), "other users stay");
  c.put("alice", "t1", claims, inFlight);
  assert.equal(c.get("alice", "t1"), undefined, "the answer may predate the change");
});

test("entries expire after the TTL and never outlive the token", () => {
  const { c, advance, now } = cache();
  c.setLive(true);
  c.put("alice", "t1", claims, c.begin());
  advance(4999);
  assert.ok(c.get("alice", "t1"));
  advance(2);
  assert.equal(c.get("alice", "t1"), undefined);
  const exp = Math.floor((now() + 1000) / 1000);
  c.put("alice", "t2", { ...claims, exp }, c.begin());
  advance(exp * 1000 - now() + 1);
  assert.equal(c.get("alice", "t2"), undefined, "token expiry bounds the entry");
  c.put("alice", "t3", { ...claims, exp: Math.floor(now() / 1000) - 1 }, c.begin());
  assert.equal(c.get("alice", "t3"), undefined, "an expired token is never kept");
});

test("bounded per user and in all, oldest first", () => {
  const { c } = cache();
  c.setLive(true);
  for (const t of ["a", "b", "c"]) c.put("alice", t, claims, c.begin());
  assert.equal(c.get("alice", "a"), undefined);
  assert.ok(c.get("alice", "c"));
  c.put("bob", "x", claims, c.begin());
  c.put("carol", "y", claims, c.begin());
  assert.equal(c.get("alice", "b"), undefined, "total cap drops the oldest user");
  assert.ok(c.get("carol", "y"));
});
