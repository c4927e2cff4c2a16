import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { CloisterError, Status } from "@cloister/core";
import { SignJWT } from "jose";
import { AuthenticationService } from "../src/index.js";
import { MemoryKv } from "./memory-kv.js";

const unauth = (message: string) => (e: unknown) => {
  assert.ok(e instanceof CloisterError, String(e));
  assert.equal(e.code, Status.UNAUTHENTICATED);
  assert.equal(e.message, message);
  return true;
};

async function setup() {
  const kv = new MemoryKv();
  const auth = await AuthenticationService.open(kv);
  const token = await auth.userLogin({ id: "admin", password: "teaclave" });
  return { kv, auth, admin: { id: "admin", token } };
}

const reg = (id: string, role: string, attribute = "", password = "pw") => ({
  id,
  password,
  role,
  attribute,
});

describe("authentication service (spec/behaviour.md §2)", () => {
  test("bootstrap admin logs in; bootstrap is idempotent and keeps state", async () => {
    const { kv, auth } = await setup();
    await auth.userChangePassword(
      { id: "admin", token: await auth.userLogin({ id: "admin", password: "teaclave" }) },
      { password: "new" },
    );
    const again = await AuthenticationService.open(kv);
    await assert.rejects(
      again.userLogin({ id: "admin", password: "teaclave" }),
      unauth("authentication failed"),
    );
    assert.ok(await again.userLogin({ id: "admin", password: "new" }));
  });

  test("login failures all say 'authentication failed'", async () => {
    const { auth } = await setup();
    for (const req of [
      { id: "", password: "x" },
      { id: "admin", password: "" },
      { id: "nobody", password: "x" },
      { id: "admin", password: "wrong" },
    ]) {
      await assert.rejects(auth.userLogin(req), unauth("authentication failed"));
    }
  });

  test("tokens issued by login are accepted internally and carry the role", async () => {
    const { auth, admin } = await setup();
    const claims = await auth.userAuthenticate(admin);
    assert.equal(claims.sub, "admin");
    assert.equal(claims.role, "PlatformAdmin");
    assert.equal(claims.iss, "Teaclave");
    assert.ok(claims.exp > Date.now() / 1000 + 86_000);
  });

  test("forged, foreign, expired and mismatched tokens are refused", async () => {
    const { auth, admin } = await setup();
    const forged = await new SignJWT({ role: "PlatformAdmin" })
      .setProtectedHeader({ typ: "JWT", alg: "HS512" })
      .setSubject("admin")
      .setIssuer("Teaclave")
      .setExpirationTime(Math.floor(Date.now() / 1000) + 600)
      .sign(new Uint8Array(512));
    await assert.rejects(
      auth.userAuthenticate({ id: "admin", token: forged }),
      unauth("authentication failed"),
    );
    // Flip one character of the signature.
    const tampered = admin.token.slice(0, -2) + (admin.token.at(-2) === "A" ? "B" : "A") + admin.token.at(-1);
    await assert.rejects(
      auth.userAuthenticate({ id: "admin", token: tampered }),
      unauth("authentication failed"),
    );
    // A valid token presented for another user id.
    await auth.userRegister(admin, reg("bob", "FunctionOwner"));
    await assert.rejects(
      auth.userAuthenticate({ id: "bob", token: admin.token }),
      unauth("authentication failed"),
    );
    // alg=none
    const none = `${Buffer.from('{"alg":"none","typ":"JWT"}').toString("base64url")}.${Buffer.from(
      JSON.stringify({ sub: "admin", role: "PlatformAdmin", iss: "Teaclave", exp: 9e9 }),
    ).toString("base64url")}.`;
    await assert.rejects(
      auth.userAuthenticate({ id: "admin", token: none }),
      unauth("authentication failed"),
    );
    await assert.rejects(auth.userAuthenticate({ id: "admin", token: "" }), unauth("authentication failed"));
    // Strict parsing: padding, non-canonical trailing bits, extra segments or whitespace refused.
    const B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const last = admin.token.at(-1) as string;
    const sameBytes = admin.token.slice(0, -1) + B64URL[B64URL.indexOf(last) ^ 1];
    assert.deepEqual(
      Buffer.from(sameBytes.split(".")[2] as string, "base64url"),
      Buffer.from(admin.token.split(".")[2] as string, "base64url"),
      "the variant decodes to the same signature bytes",
    );
    const [h, p, sig] = admin.token.split(".");
    for (const variant of [
      `${admin.token}==`,
      `${admin.token}=`,
      sameBytes,
      `${h}=.${p}.${sig}`,
      `${admin.token}.`,
      ` ${admin.token}`,
      `${h}.${p}.${sig}`.replace(".", ".."),
      `${admin.token}${"A".repeat(5000)}`,
    ]) {
      await assert.rejects(
        auth.userAuthenticate({ id: "admin", token: variant }),
        unauth("authentication failed"),
        variant.slice(0, 80),
      );
    }
    assert.ok(await auth.userAuthenticate(admin), "the canonical token still works");
    await assert.rejects(auth.listUsers({ id: "admin" }, { id: "x" }), unauth("missing token"));
    await assert.rejects(auth.listUsers({ token: admin.token }, { id: "x" }), unauth("missing user id"));
  });

  test("an expired token is refused (the service's own key, exp in the past)", async () => {
    const { auth } = await setup();
    // issue() takes the clock as a parameter so expiry is testable without waiting a day.
    const tokens = (
      auth as unknown as { tokens: { issue(u: string, r: string, now: number): Promise<string> } }
    ).tokens;
    const old = await tokens.issue("admin", "PlatformAdmin", Math.floor(Date.now() / 1000) - 86_401);
    await assert.rejects(auth.userAuthenticate({ id: "admin", token: old }), unauth("authentication failed"));
  });

  test("deleting a user invalidates its tokens", async () => {
    const { auth, admin } = await setup();
    await auth.userRegister(admin, reg("carol", "FunctionOwner"));
    const carol = { id: "carol", token: await auth.userLogin({ id: "carol", password: "pw" }) };
    assert.equal((await auth.userAuthenticate(carol)).role, "FunctionOwner");
    await auth.deleteUser(admin, { id: "carol" });
    await assert.rejects(auth.userAuthenticate(carol), unauth("authentication failed"));
  });

  test("register: order of checks and who may register whom (§2.5, §2.6)", async () => {
    const { auth, admin } = await setup();
    await assert.rejects(auth.userRegister(admin, reg("", "FunctionOwner")), unauth("invalid user id"));
    await assert.rejects(auth.userRegister(admin, reg("admin", "FunctionOwner")), unauth("user id exist"));
    await assert.rejects(auth.userRegister(admin, reg("x", "")), unauth("invalid role"));
    await auth.userRegister(admin, reg("fo", "FunctionOwner"));
    await auth.userRegister(admin, reg("mgr", "DataOwnerManager", "bank"));
    await auth.userRegister(admin, reg("do", "DataOwner", "bank"));
    const login = async (id: string) => ({ id, token: await auth.userLogin({ id, password: "pw" }) });
    const fo = await login("fo");
    const mgr = await login("mgr");
    const dataOwner = await login("do");
    await auth.userRegister(fo, reg("mgr2", "DataOwnerManager", "other"));
    await assert.rejects(auth.userRegister(fo, reg("x1", "DataOwner", "bank")), unauth("permission denied"));
    await auth.userRegister(mgr, reg("do2", "DataOwner", "bank"));
    await assert.rejects(
      auth.userRegister(mgr, reg("x2", "DataOwner", "other")),
      unauth("permission denied"),
    );
    await assert.rejects(auth.userRegister(mgr, reg("x3", "FunctionOwner")), unauth("permission denied"));
    await assert.rejects(
      auth.userRegister(dataOwner, reg("x4", "DataOwner", "bank")),
      unauth("permission denied"),
    );

    // Listing: admin all, manager only its group's data owners and only with id == attribute.
    assert.deepEqual(await auth.listUsers(admin, { id: "anything" }), [
      "admin",
      "do",
      "do2",
      "fo",
      "mgr",
      "mgr2",
    ]);
    assert.deepEqual(await auth.listUsers(mgr, { id: "bank" }), ["do", "do2"]);
    await assert.rejects(auth.listUsers(mgr, { id: "other" }), unauth("permission denied"));
    await assert.rejects(auth.listUsers(fo, { id: "bank" }), unauth("permission denied"));
    await assert.rejects(auth.listUsers(admin, { id: "" }), unauth("invalid user id"));

    // Reset and delete: managers only for their own data owners.
    const pw = await auth.resetUserPassword(mgr, { id: "do2" });
    assert.match(pw, /^[0-9a-f]{32}$/);
    assert.ok(await auth.userLogin({ id: "do2", password: pw }));
    await assert.rejects(auth.resetUserPassword(mgr, { id: "fo" }), unauth("permission denied"));
    await assert.rejects(auth.resetUserPassword(mgr, { id: "ghost" }), unauth("permission denied"));
    await assert.rejects(auth.deleteUser(fo, { id: "do" }), unauth("permission denied"));
    await auth.deleteUser(mgr, { id: "do2" });
    assert.equal(await auth.users.exists("do2"), false);
  });

  test("update: admin any; manager only a current DataOwner of its group, to a DataOwner of its group; role change applies at next login", async () => {
    const { auth, admin } = await setup();
    await auth.userRegister(admin, reg("mgr", "DataOwnerManager", "bank"));
    await auth.userRegister(admin, reg("u", "DataOwner", "bank"));
    await auth.userRegister(admin, reg("fo", "FunctionOwner"));
    await auth.userRegister(admin, reg("other", "DataOwner", "other"));
    const mgr = { id: "mgr", token: await auth.userLogin({ id: "mgr", password: "pw" }) };
    const u = { id: "u", token: await auth.userLogin({ id: "u", password: "pw" }) };
    await assert.rejects(auth.userUpdate(admin, reg("ghost", "DataOwner")), unauth("invalid user id"));
    await assert.rejects(auth.userUpdate(admin, reg("u", "Nope")), unauth("invalid role"));
    await assert.rejects(auth.userUpdate(mgr, reg("u", "DataOwner", "other")), unauth("permission denied"));
    // Account takeover attempts: the target's *current* role must be DataOwner(bank).
    for (const target of ["admin", "fo", "other", "mgr"]) {
      await assert.rejects(
        auth.userUpdate(mgr, reg(target, "DataOwner", "bank", "taken")),
        unauth("permission denied"),
        target,
      );
      await assert.rejects(
        auth.userLogin({ id: target, password: "taken" }),
        unauth("authentication failed"),
      );
    }
    assert.equal((await auth.users.get("fo"))?.role, "FunctionOwner");
    await auth.userUpdate(mgr, reg("u", "DataOwner", "bank", "pw2"));
    assert.equal((await auth.userAuthenticate(u)).role, "DataOwner-bank");
    await auth.userUpdate(admin, reg("u", "FunctionOwner", "", "pw3"));
    assert.equal((await auth.userAuthenticate(u)).role, "DataOwner-bank");
    const fresh = { id: "u", token: await auth.userLogin({ id: "u", password: "pw3" }) };
    assert.equal((await auth.userAuthenticate(fresh)).role, "FunctionOwner");
    // Now a FunctionOwner, u is no longer the manager's to update.
    await assert.rejects(auth.userUpdate(mgr, reg("u", "DataOwner", "bank")), unauth("permission denied"));
  });

  test("a login burst is refused before any hashing (8 per user and per address), and token checks are not starved", async () => {
    const kv = new MemoryKv();
    const auth = await AuthenticationService.open(kv, undefined, {
      perAddress: { perSecond: 1, burst: 50 },
      perUser: { perSecond: 1, burst: 20 },
    });
    const admin = { id: "admin", token: await auth.userLogin({ id: "admin", password: "teaclave" }) };
    let done = 0;
    const outcomes: (string | number)[] = [];
    const burst = Array.from({ length: 200 }, () =>
      auth.userLogin({ id: "admin", password: "teaclave" }, "10.0.0.1").then(
        () => {
          done++;
          outcomes.push("ok");
        },
        (e: CloisterError) => outcomes.push(e.code),
      ),
    );
    // An ordinary token check issued after the burst started.
    const check = auth.userAuthenticate(admin).then(() => done);
    const finishedBeforeCheck = await check;
    await Promise.all(burst);
    const ok = outcomes.filter((o) => o === "ok").length;
    const limited = outcomes.filter((o) => o === Status.RESOURCE_EXHAUSTED).length;
    assert.equal(ok + limited, 200, JSON.stringify(outcomes.filter((o) => o !== "ok" && o !== 8)));
    assert.ok(ok >= 1 && ok <= 20, `${ok} logins hashed of 200 (per-user burst 20)`);
    assert.ok(finishedBeforeCheck < ok, `the token check waited for ${finishedBeforeCheck} of ${ok} hashes`);

    // Many user ids from one address: the per-address bucket (burst 50) refuses the rest.
    const spray = await Promise.allSettled(
      Array.from({ length: 60 }, (_, i) => auth.userLogin({ id: `u${i}`, password: "x" }, "10.0.0.2")),
    );
    const codes = spray.map((r) => (r.status === "rejected" ? (r.reason as CloisterError).code : 0));
    assert.ok(codes.filter((c) => c === Status.RESOURCE_EXHAUSTED).length >= 10, JSON.stringify(codes));
    assert.ok(codes.every((c) => c === Status.RESOURCE_EXHAUSTED || c === Status.UNAUTHENTICATED));
  });
});
