// functions.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { parseFunction, parseUsage, parseUserFunctions } from "@cloister/model";
import { admin, alice, bob, fnReq, fowner, mallory, NO_SUCH, rejects, setup } from "./helpers.js";
import { keys } from "./memory-store.js";

describe("RegisterFunction", () => {
  test("stores the record, usage counter and user lists", async () => {
    const { svc, store } = setup();
    const { functionId } = await svc.registerFunction(
      fowner,
      fnReq({ public: false, userAllowlist: ["alice", "bob"], usageQuota: 3 }),
    );
    assert.match(functionId, /^function-[0-9a-f-]{36}$/);
    const uuid = functionId.slice("function-".length);
    const f = parseFunction(store.text(keys.function(uuid))!);
    assert.equal(f.owner, "fowner");
    assert.equal(f.usageQuota, 3);
    assert.deepEqual(parseUsage(store.text(keys.usage(uuid))!), { functionUuid: uuid, useNumbers: 0 });
    assert.deepEqual(parseUserFunctions(store.text(keys.user("fowner"))!).registeredFunctions, [functionId]);
    assert.deepEqual(parseUserFunctions(store.text(keys.user("alice"))!).allowedFunctions, [functionId]);
    assert.deepEqual(parseUserFunctions(store.text(keys.user("bob"))!).allowedFunctions, [functionId]);
  });

  test("negative quota is unlimited; bad executor type is 3", async () => {
    const { svc, store } = setup();
    const { functionId } = await svc.registerFunction(fowner, fnReq({ usageQuota: -1 }));
    assert.equal(parseFunction(store.text(keys.function(functionId.slice(9)))!).usageQuota, null);
    await rejects(
      svc.registerFunction(fowner, fnReq({ executorType: "java" })),
      3,
      "Invalid executor type: java",
    );
  });

  test("missing user id → 2; storage failure → 13 service internal error", async () => {
    const { svc, store } = setup();
    await rejects(svc.registerFunction({ id: "", role: "FunctionOwner" }, fnReq()), 2, "missing user id");
    store.failing = true;
    await rejects(svc.registerFunction(fowner, fnReq()), 13, "service internal error");
  });

  test("concurrent registrations do not lose list entries", async () => {
    const { svc, store } = setup();
    const ids = await Promise.all(Array.from({ length: 5 }, () => svc.registerFunction(fowner, fnReq())));
    const lists = parseUserFunctions(store.text(keys.user("fowner"))!);
    assert.deepEqual([...lists.registeredFunctions].sort(), ids.map((r) => r.functionId).sort());
  });
});

describe("GetFunction", () => {
  test("public, admin and owner get the full record; allowlisted users a redacted one", async () => {
    const { svc } = setup();
    const payload = Buffer.from("def entrypoint(argv): return 'x'");
    const { functionId } = await svc.registerFunction(
      fowner,
      fnReq({ public: false, executorType: "python", payload, userAllowlist: ["alice"] }),
    );
    for (const c of [fowner, admin]) {
      const r = await svc.getFunction(c, { functionId });
      assert.deepEqual(r.payload, payload);
      assert.deepEqual(r.userAllowlist, ["alice"]);
      assert.equal(r.executorType, "python");
      assert.equal(r.owner, "fowner");
    }
    const red = await svc.getFunction(alice, { functionId });
    assert.equal(red.payload.length, 0);
    assert.deepEqual(red.userAllowlist, []);
    assert.equal(red.name, "builtin-echo");
    await rejects(svc.getFunction(bob, { functionId }), 7, "permission denied");
    const pub = await svc.registerFunction(fowner, fnReq({ payload }));
    assert.deepEqual((await svc.getFunction(bob, { functionId: pub.functionId })).payload, payload);
  });

  test("id errors and missing role", async () => {
    const { svc } = setup();
    const { functionId } = await svc.registerFunction(fowner, fnReq());
    for (const bad of ["", "function", "function-xyz", `function-${NO_SUCH}`, `task-${functionId.slice(9)}`])
      await rejects(svc.getFunction(alice, { functionId: bad }), 3, "invalid function id");
    await rejects(svc.getFunction({ id: "alice", role: "" }, { functionId }), 2, "missing user role");
    await rejects(svc.getFunction({ id: "", role: "" }, { functionId }), 2, "missing user id");
    // upper-case UUIDs are accepted
    assert.equal(
      (await svc.getFunction(alice, { functionId: `function-${functionId.slice(9).toUpperCase()}` })).name,
      "builtin-echo",
    );
  });
});

describe("UpdateFunction", () => {
  test("owner replaces every field; others are denied", async () => {
    const { svc, store } = setup();
    const { functionId } = await svc.registerFunction(fowner, fnReq({ userAllowlist: ["alice"] }));
    const upd = { ...fnReq({ name: "new", executorType: "wamr", public: false, usageQuota: 5 }), functionId };
    await rejects(svc.updateFunction(admin, upd), 7, "permission denied");
    await rejects(
      svc.updateFunction(fowner, { ...upd, functionId: `function-${NO_SUCH}` }),
      3,
      "invalid function id",
    );
    await rejects(
      svc.updateFunction(fowner, { ...upd, executorType: "jvm" }),
      3,
      "Invalid executor type: jvm",
    );
    assert.deepEqual(await svc.updateFunction(fowner, upd), { functionId });
    const f = parseFunction(store.text(keys.function(functionId.slice(9)))!);
    assert.equal(f.name, "new");
    assert.equal(f.executorType, "wamr");
    assert.equal(f.usageQuota, 5);
    assert.deepEqual(f.userAllowlist, []);
    // user lists untouched
    assert.deepEqual(parseUserFunctions(store.text(keys.user("alice"))!).allowedFunctions, [functionId]);
  });
});

describe("DeleteFunction", () => {
  test("only the owner (admin not exempt); deletes only the record", async () => {
    const { svc, store } = setup();
    const { functionId } = await svc.registerFunction(fowner, fnReq());
    await rejects(svc.deleteFunction(admin, { functionId }), 7, "permission denied");
    await svc.deleteFunction(fowner, { functionId });
    assert.equal(store.text(keys.function(functionId.slice(9))), undefined);
    assert.ok(store.text(keys.usage(functionId.slice(9))));
    assert.deepEqual(parseUserFunctions(store.text(keys.user("fowner"))!).registeredFunctions, [functionId]);
    await rejects(svc.deleteFunction(fowner, { functionId }), 3, "invalid function id");
  });
});

describe("DisableFunction", () => {
  test("admin or owner; removes the id from every list and clears the allowlist", async () => {
    const { svc, store } = setup();
    const { functionId } = await svc.registerFunction(
      fowner,
      fnReq({ public: false, userAllowlist: ["alice"] }),
    );
    await rejects(svc.disableFunction(alice, { functionId }), 7, "permission denied");
    await rejects(svc.disableFunction({ id: "fowner", role: "" }, { functionId }), 2, "missing user role");
    await svc.disableFunction(admin, { functionId });
    assert.deepEqual(parseUserFunctions(store.text(keys.user("fowner"))!).registeredFunctions, []);
    assert.deepEqual(parseUserFunctions(store.text(keys.user("alice"))!).allowedFunctions, []);
    const f = parseFunction(store.text(keys.function(functionId.slice(9)))!);
    assert.deepEqual(f.userAllowlist, []);
    // still readable by the owner
    assert.equal((await svc.getFunction(fowner, { functionId })).name, "builtin-echo");
    await svc.disableFunction(fowner, { functionId });
  });
});

describe("ListFunctions", () => {
  test("self or admin; admin sees all function ids as allowed", async () => {
    const { svc } = setup();
    const a = await svc.registerFunction(fowner, fnReq({ userAllowlist: ["alice"] }));
    const b = await svc.registerFunction(fowner, fnReq());
    const own = await svc.listFunctions(fowner, { userId: "fowner" });
    assert.deepEqual(own.registeredFunctions, [a.functionId, b.functionId]);
    assert.deepEqual(own.allowedFunctions, []);
    assert.deepEqual((await svc.listFunctions(alice, { userId: "alice" })).allowedFunctions, [a.functionId]);
    await rejects(svc.listFunctions(alice, { userId: "fowner" }), 7, "permission denied");
    const asAdmin = await svc.listFunctions(admin, { userId: "fowner" });
    assert.deepEqual(asAdmin.allowedFunctions, [a.functionId, b.functionId].sort());
    // no record → both empty, even for admin
    assert.deepEqual(await svc.listFunctions(admin, { userId: "nobody" }), {
      registeredFunctions: [],
      allowedFunctions: [],
    });
    assert.deepEqual(await svc.listFunctions(mallory, { userId: "mallory" }), {
      registeredFunctions: [],
      allowedFunctions: [],
    });
    await rejects(svc.listFunctions({ id: "alice", role: "" }, { userId: "alice" }), 2, "missing user role");
  });
});

describe("GetFunctionUsageStats", () => {
  test("public / admin / allowlisted; the owner of a private function is not allowed", async () => {
    const { svc } = setup();
    const priv = await svc.registerFunction(
      fowner,
      fnReq({ public: false, userAllowlist: ["alice"], usageQuota: 2 }),
    );
    await rejects(svc.getFunctionUsageStats(fowner, priv), 7, "permission denied");
    await rejects(svc.getFunctionUsageStats(bob, priv), 7, "permission denied");
    assert.deepEqual(await svc.getFunctionUsageStats(alice, priv), { functionQuota: 2, currentUsage: 0 });
    assert.deepEqual(await svc.getFunctionUsageStats(admin, priv), { functionQuota: 2, currentUsage: 0 });
    const pub = await svc.registerFunction(fowner, fnReq());
    assert.deepEqual(await svc.getFunctionUsageStats(fowner, pub), { functionQuota: -1, currentUsage: 0 });
    await rejects(svc.getFunctionUsageStats(admin, { functionId: "function-x" }), 3, "invalid function id");
  });
});
