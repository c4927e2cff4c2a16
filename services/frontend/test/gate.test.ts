import assert from "node:assert/strict";
import { test } from "node:test";
import { CloisterError, Status, silentLogger } from "@cloister/core";
import { AuditBuffer, type AuditEntry, FrontendGate, ipBytes } from "../src/index.js";

function setup(opts: { roleOk?: boolean } = {}) {
  const shipped: AuditEntry[] = [];
  const audit = new AuditBuffer(async (e) => void shipped.push(...e), silentLogger);
  const calls: string[] = [];
  const gate = new FrontendGate({
    audit,
    authenticate: async (id, token) => (token === "good" ? { sub: id, role: "DataOwner-bank" } : undefined),
    authorize: async (role, api) => {
      calls.push(`${role}:${api}`);
      return opts.roleOk ?? true;
    },
  });
  return { gate, audit, shipped, calls };
}
const ip = ipBytes("::ffff:10.1.2.3");

test("missing credentials, bad token and denied API fail with the spec's codes and texts, and are audited", async () => {
  const { gate, audit, shipped } = setup({ roleOk: false });
  const expect = (code: number, message: string) => (e: unknown) =>
    e instanceof CloisterError && e.code === code && e.message === message;
  await assert.rejects(
    gate.call("get_task", { ip, token: "good" }, async () => 1),
    expect(16, "missing user id"),
  );
  await assert.rejects(
    gate.call("get_task", { ip, id: "u" }, async () => 1),
    expect(16, "missing token"),
  );
  await assert.rejects(
    gate.call("get_task", { ip, id: "u", token: "bad" }, async () => 1),
    expect(16, "incorrent credential"),
  );
  await assert.rejects(
    gate.call("get_task", { ip, id: "u", token: "good" }, async () => 1),
    expect(7, "permission denied"),
  );
  await audit.flush();
  assert.deepEqual(
    shipped.map((e) => [e.message, e.user, e.result]),
    [
      ["authenticate to get_task: authentication failed", "", false],
      ["authenticate to get_task: authentication failed", "", false],
      ["authenticate to get_task: authentication failed", "", false],
      ["authenticate to get_task", "", false],
    ],
  );
  assert.deepEqual([...shipped[0]!.ip], [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 10, 1, 2, 3]);
});

test("an authorised call is forwarded with the token's full role; outcomes are audited", async () => {
  const { gate, audit, shipped, calls } = setup();
  const out = await gate.call("get_task", { ip, id: "u", token: "good" }, async (caller) => caller);
  assert.deepEqual(out, { id: "u", role: "DataOwner-bank" });
  assert.deepEqual(calls, ["DataOwner:get_task"]);
  await assert.rejects(
    gate.call("get_task", { ip, id: "u", token: "good" }, async () => {
      throw new CloisterError(Status.INVALID_ARGUMENT, "invalid task id");
    }),
    /invalid task id/,
  );
  await audit.flush();
  assert.equal(shipped[0]!.message, "get_task");
  assert.equal(shipped[0]!.user, '{ user: u, role: DataOwner("bank") }');
  assert.equal(shipped[0]!.result, true);
  assert.match(shipped[1]!.message, /^get_task:status: InvalidArgument, message: "invalid task id"/);
});

test("ipBytes renders IPv6 and IPv4", () => {
  assert.equal(ipBytes("::1").toString("hex"), "00000000000000000000000000000001");
  assert.equal(ipBytes("127.0.0.1").toString("hex"), "0000000000000000000000007f000001");
  assert.equal(ipBytes("fe80::1:2").toString("hex"), "fe800000000000000000000000010002");
});

test("grants are cached per (role, api); denials are asked again", async () => {
  const { gate, calls } = setup();
  const ok = () => gate.call("get_task", { ip, id: "u", token: "good" }, async () => 1);
  await ok();
  await ok();
  assert.deepEqual(calls, ["DataOwner:get_task"]);
  const denied = setup({ roleOk: false });
  const no = () => denied.gate.call("get_task", { ip, id: "u", token: "good" }, async () => 1);
  await assert.rejects(no());
  await assert.rejects(no());
  assert.equal(denied.calls.length, 2);
});
