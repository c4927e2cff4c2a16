// SaveLogs and QueryAuditLogs.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { common } from "@cloister/proto";
import { RecordStore } from "@cloister/storage";
import { AuditLog } from "../src/index.js";
import { alice, rejects, setup } from "./helpers.js";
import { MemoryStore } from "./memory-store.js";

const admin = { id: "admin", role: "PlatformAdmin" };
const v4 = (a: number, b: number, c: number, d: number) =>
  Buffer.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, a, b, c, d]);
const T0 = Date.parse("2024-06-01T12:00:00Z") * 1000;

const entries: common.Entry[] = [
  {
    microsecond: T0,
    ip: v4(10, 0, 0, 1),
    user: "",
    message: "authenticate to register_function: authentication failed",
    result: false,
  },
  {
    microsecond: T0 + 1_000_000,
    ip: v4(10, 0, 0, 2),
    user: "{ user: frontend_user, role: PlatformAdmin }",
    message: "register_function",
    result: true,
  },
  {
    microsecond: T0 + 2_000_000,
    ip: v4(10, 0, 0, 2),
    user: '{ user: alice, role: DataOwner("bank") }',
    message: "create_task",
    result: true,
  },
  {
    microsecond: T0 + 86_400_000_000,
    ip: v4(192, 168, 1, 9),
    user: '{ user: alice, role: DataOwner("bank") }',
    message: 'get_task: status: PermissionDenied, message: "permission denied"',
    result: false,
  },
];

async function seeded() {
  const s = setup();
  await s.svc.saveLogs({ id: "", role: "" }, { logs: entries });
  const q = async (query: string, limit = 100) =>
    (await s.svc.queryAuditLogs(admin, { query, limit })).logs.map((e) => e.message);
  return { ...s, q };
}

describe("QueryAuditLogs", () => {
  test("only PlatformAdmin; role required", async () => {
    const { svc } = await seeded();
    await rejects(svc.queryAuditLogs(alice, { query: "*", limit: 10 }), 7, "permission denied");
    await rejects(
      svc.queryAuditLogs({ id: "admin", role: "" }, { query: "*", limit: 10 }),
      2,
      "missing user role",
    );
  });

  test("entries are durable and come back newest first, limited", async () => {
    const { q, svc, store } = await seeded();
    assert.deepEqual(await q("*"), entries.map((e) => e.message).reverse());
    assert.deepEqual(await q("*", 2), [entries[3]!.message, entries[2]!.message]);
    const first = (await svc.queryAuditLogs(admin, { query: "create_task", limit: 1 })).logs[0]!;
    assert.deepEqual(first, entries[2]);
    assert.ok([...store.map.keys()].some((k) => k.startsWith("audit-")));
  });

  test("terms, phrases, fields, bools", async () => {
    const { q } = await seeded();
    assert.deepEqual(await q("message:register_function"), [entries[1]!.message, entries[0]!.message]);
    assert.deepEqual(await q("message:authenticate"), [entries[0]!.message]);
    assert.deepEqual(await q("user:frontend_user"), [entries[1]!.message]);
    assert.deepEqual(await q('message:"permission denied"'), [entries[3]!.message]);
    assert.deepEqual(await q('"denied permission"'), []);
    assert.deepEqual(await q("CREATE_TASK"), [entries[2]!.message]);
    assert.deepEqual(await q("result:true"), [entries[2]!.message, entries[1]!.message]);
    assert.deepEqual(await q("result:false"), [entries[3]!.message, entries[0]!.message]);
    assert.deepEqual(await q("create_task get_task"), [entries[3]!.message, entries[2]!.message]);
  });

  test("+/-, AND/OR, parentheses", async () => {
    const { q } = await seeded();
    assert.deepEqual(await q("+user:alice -result:false"), [entries[2]!.message]);
    assert.deepEqual(await q("user:alice AND result:false"), [entries[3]!.message]);
    assert.deepEqual(await q("user:alice OR message:authenticate"), [
      entries[3]!.message,
      entries[2]!.message,
      entries[0]!.message,
    ]);
    assert.deepEqual(await q("(create_task OR register_function) AND result:true"), [
      entries[2]!.message,
      entries[1]!.message,
    ]);
    assert.deepEqual(await q("-result:false"), []);
    assert.deepEqual(await q("* -result:false"), [entries[2]!.message, entries[1]!.message]);
  });

  test("date and ip ranges", async () => {
    const { q } = await seeded();
    assert.deepEqual(await q("date:[2024-06-02T00:00:00Z TO *]"), [entries[3]!.message]);
    assert.deepEqual(await q("date:[2024-06-01T12:00:00Z TO 2024-06-01T12:00:01Z}"), [entries[0]!.message]);
    assert.deepEqual(await q("date:[2024-01-01T00:00:00Z TO 2024-12-31T23:59:59Z]").then((r) => r.length), 4);
    assert.deepEqual(await q("ip:10.0.0.2"), [entries[2]!.message, entries[1]!.message]);
    assert.deepEqual(await q("ip:[192.168.0.0 TO 192.168.255.255]"), [entries[3]!.message]);
  });

  test("limit 0 and unparsable queries", async () => {
    const { svc } = await seeded();
    const run = (query: string, limit = 10) => svc.queryAuditLogs(admin, { query, limit });
    await rejects(
      run("*", 0),
      3,
      "audit log error, reason: failed to query logs limit must be greater than 0",
    );
    for (const bad of [
      "(unclosed",
      "a AND",
      "foo:bar",
      "result:maybe",
      "date:[x TO y]",
      '"open',
      "AND x",
      ")",
    ]) {
      await assert.rejects(
        run(bad),
        (e: Error & { code?: number }) => {
          assert.equal(e.code, 3);
          assert.match(e.message, /^audit log error, reason: failed to query logs /);
          return true;
        },
        bad,
      );
    }
  });

  test("the store is bounded: newest maxEntries kept, old entries aged out, queries read at most maxScanned", async () => {
    const store = new MemoryStore();
    const now = T0 / 1000 + 100_000;
    const log = new AuditLog(
      new RecordStore(store),
      { maxEntries: 5, maxAgeMs: 50_000, maxScanned: 3, sweepEvery: 4 },
      () => now,
    );
    const at = (i: number, ageMs: number): common.Entry => ({
      microsecond: (now - ageMs) * 1000 + i,
      ip: v4(1, 1, 1, 1),
      user: "",
      message: `entry ${i}`,
      result: true,
    });
    // Ten fresh entries: after the sweeps only the newest five remain.
    for (let i = 0; i < 10; i++) await log.save([at(i, 1000)]);
    await log.sweep();
    const keys = () => store.keysByPrefix(Buffer.from("audit-"));
    assert.equal((await keys()).length, 5);
    // A query matching everything reads only the newest three.
    assert.deepEqual(
      (await log.query("*", 100)).map((e) => e.message),
      ["entry 9", "entry 8", "entry 7"],
    );
    // Entries older than maxAgeMs go at the next sweep.
    await log.save([at(100, 60_000), at(101, 70_000)]);
    await log.sweep();
    assert.equal((await keys()).length, 5);
    assert.ok(
      (await log.query("*", 100)).every((e) => !["entry 100", "entry 101"].includes(e.message ?? "")),
    );
  });

  test("with only the count bound, a full listing runs once the log is well over it, and deletes go in batches", async () => {
    const store = new MemoryStore();
    let listings = 0;
    let batches = 0;
    const keysByPrefix = store.keysByPrefix.bind(store);
    const batch = store.batch.bind(store);
    store.keysByPrefix = (p: Buffer) => {
      listings++;
      return keysByPrefix(p);
    };
    store.batch = (ops) => {
      batches++;
      return batch(ops);
    };
    const log = new AuditLog(new RecordStore(store), { maxEntries: 20, sweepEvery: 4 });
    const entry = (i: number): common.Entry => ({
      microsecond: T0 + i,
      ip: v4(1, 1, 1, 1),
      user: "",
      message: `entry ${i}`,
      result: true,
    });
    const keys = async () => (await keysByPrefix(Buffer.from("audit-"))).length;
    for (let i = 0; i < 60; i++) {
      await log.save([entry(i)]);
      assert.ok((await keys()) <= 24, `bounded: ${await keys()} after ${i + 1}`);
    }
    // The first save sweeps; then one sweep each time the log passes 24 (every 5 saves past 20).
    assert.ok(listings <= 10, `${listings} listings for 60 saves`);
    assert.ok(batches <= 60 + listings, `${batches} storage steps: deletes were batched`);
    assert.ok((await keys()) >= 20);
    assert.deepEqual(
      (await log.query("*", 1)).map((e) => e.message),
      ["entry 59"],
    );
  });
});
