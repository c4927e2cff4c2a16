import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { LevelDbStore } from "../src/index.js";
import { ReadCache } from "../src/read-cache.js";

const b = (s: string) => Buffer.from(s);

test("a read that overlapped a write never puts the older value back", () => {
  const c = new ReadCache();
  const epoch = c.begin();
  c.wrote([{ type: "put", key: b("k"), value: b("new") }]);
  c.fill(b("k"), b("old"), epoch);
  assert.equal(c.lookup(b("k"))?.toString(), "new");
  c.forget([{ type: "put", key: b("k"), value: b("?") }]);
  assert.equal(c.lookup(b("k")), undefined, "a failed write's key is read again");
  c.fill(b("gone"), undefined, c.begin());
  assert.equal(c.lookup(b("gone")), null, "known absent");
});

test("bounded in bytes, least recently used out; copies, never shared buffers", () => {
  const c = new ReadCache(40, 16);
  c.wrote([{ type: "put", key: b("a"), value: Buffer.alloc(10) }]);
  c.wrote([{ type: "put", key: b("b"), value: Buffer.alloc(10) }]);
  c.lookup(b("a"));
  c.wrote([{ type: "put", key: b("c"), value: Buffer.alloc(10) }]);
  c.wrote([{ type: "put", key: b("d"), value: Buffer.alloc(10) }]);
  assert.equal(c.lookup(b("b")), undefined, "b was least recently used");
  assert.ok(c.lookup(b("a")));
  c.wrote([{ type: "put", key: b("big"), value: Buffer.alloc(17) }]);
  assert.equal(c.lookup(b("big")), undefined, "too large to keep");
  const v = c.lookup(b("a"))!;
  v.fill(1);
  assert.equal(c.lookup(b("a"))![0], 0);
});

test("an entry in the old generation is never served over a newer write, nor after a failed one", () => {
  const c = new ReadCache(100, 40); // a generation holds 50 bytes
  const put = (k: string, v: string) => c.wrote([{ type: "put", key: b(k), value: b(v) }]);
  put("k", "v1");
  put("f", "x".repeat(40));
  put("g", "x".repeat(40)); // over 50: k, f and g are the old generation now
  put("k", "v2");
  assert.equal(c.lookup(b("k"))?.toString(), "v2");
  assert.equal(c.lookup(b("f"))?.length, 40, "old entries still serve");
  c.forget([{ type: "put", key: b("k"), value: b("v3") }]);
  assert.equal(c.lookup(b("k")), undefined, "neither the young nor the old copy is left");
  c.wrote([{ type: "del", key: b("k") }]);
  assert.equal(c.lookup(b("k")), null, "known absent");
});

test("entries not used for two generations go; used ones stay", () => {
  const c = new ReadCache(200, 40);
  c.wrote([{ type: "put", key: b("hot"), value: b("h") }]);
  c.wrote([{ type: "put", key: b("cold"), value: b("c") }]);
  for (let i = 0; i < 50; i++) {
    c.wrote([{ type: "put", key: b(`t${i}`), value: Buffer.alloc(20) }]);
    assert.equal(c.lookup(b("hot"))?.toString(), "h", `hot kept (${i})`);
  }
  assert.equal(c.lookup(b("cold")), undefined);
});

test("LevelDB reads see every write through the cache, across a reopen", async () => {
  const dir = await mkdtemp(join(tmpdir(), "cloister-cache-"));
  try {
    const path = join(dir, "db");
    let s = await LevelDbStore.open(path);
    await s.put(b("k"), b("1"));
    assert.equal((await s.get(b("k")))?.toString(), "1");
    await Promise.all([s.get(b("k")), s.put(b("k"), b("2")), s.get(b("k"))]);
    assert.equal((await s.get(b("k")))?.toString(), "2");
    await s.batch([{ type: "del", key: b("k") }]);
    assert.equal(await s.get(b("k")), undefined);
    await s.enqueueWith(b("q"), b("e"), [{ type: "put", key: b("k"), value: b("3") }]);
    assert.equal((await s.get(b("k")))?.toString(), "3");
    assert.equal((await s.dequeueInto(b("q"), b("claim"), 0))?.toString(), "e");
    assert.equal((await s.get(b("claim")))?.toString(), "e");
    await s.close();
    s = await LevelDbStore.open(path);
    assert.equal((await s.get(b("k")))?.toString(), "3");
    await s.close();
    await assert.rejects(s.get(b("k")));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("queue counters and elements are read through the cache; the queue survives a reopen", async () => {
  const dir = await mkdtemp(join(tmpdir(), "cloister-cache-"));
  try {
    const path = join(dir, "db");
    let s = await LevelDbStore.open(path);
    // Count what reaches LevelDB itself (the store's private handle).
    type Read = (...a: unknown[]) => Promise<unknown>;
    const db = (s as unknown as { db: { get: Read; getMany: Read } }).db;
    let reads = 0;
    const get = db.get.bind(db);
    const getMany = db.getMany.bind(db);
    db.get = (...a) => {
      reads++;
      return get(...a);
    };
    db.getMany = (...a) => {
      reads++;
      return getMany(...a);
    };
    await s.enqueue(b("q"), b("a"));
    const cold = reads;
    for (const e of ["b", "c", "d"]) await s.enqueue(b("q"), b(e));
    assert.equal((await s.dequeue(b("q")))?.toString(), "a");
    assert.equal((await s.dequeueInto(b("q"), b("claim"), 0))?.toString(), "b");
    assert.equal(reads, cold, "no LevelDB read once the counters are known");
    await s.close();
    s = await LevelDbStore.open(path);
    assert.equal((await s.dequeue(b("q")))?.toString(), "c");
    await s.enqueue(b("q"), b("e"));
    assert.deepEqual(
      [(await s.dequeue(b("q")))?.toString(), (await s.dequeue(b("q")))?.toString(), await s.dequeue(b("q"))],
      ["d", "e", undefined],
    );
    assert.equal((await s.get(b("claim")))?.toString(), "b");
    await s.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
