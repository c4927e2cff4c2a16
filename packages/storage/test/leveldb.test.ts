import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { ClassicLevel } from "classic-level";
import { LevelDbStore, SealedStore, StorageError, StorageIntegrityError } from "../src/index.js";
import { changeSuite } from "./change.js";
import { type Backend, b, conformance, sealed } from "./conformance.js";
import { integritySuite } from "./integrity.js";

const dirs: string[] = [];
const tempDir = async (): Promise<string> => {
  const d = await mkdtemp(join(tmpdir(), "cloister-leveldb-"));
  dirs.push(d);
  return d;
};
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

const leveldb: Backend = {
  name: "LevelDB",
  sharedAccess: false,
  async location() {
    const path = join(await tempDir(), "db");
    return { open: () => LevelDbStore.open(path) };
  },
};

conformance(leveldb);
changeSuite(leveldb);
changeSuite(sealed(leveldb));
conformance(sealed(leveldb));
integritySuite(leveldb);

describe("LevelDbStore specifics", () => {
  test("a flipped byte in the raw LevelDB file value is detected after reopen", async () => {
    const path = join(await tempDir(), "db");
    const key = randomBytes(32);
    const s1 = new SealedStore(await LevelDbStore.open(path), key);
    await s1.put(b("task-1"), b('{"status":"Created"}'));
    await s1.close();

    const raw = new ClassicLevel<Buffer, Buffer>(path, { keyEncoding: "buffer", valueEncoding: "buffer" });
    await raw.open();
    const v = (await raw.get(b("task-1"))) as Buffer;
    v[v.length - 1] = (v[v.length - 1] as number) ^ 0x80;
    await raw.put(b("task-1"), v);
    await raw.close();

    const s2 = new SealedStore(await LevelDbStore.open(path), key);
    try {
      await assert.rejects(s2.get(b("task-1")), StorageIntegrityError);
    } finally {
      await s2.close();
    }
  });

  test("a directory in use by another store is refused with a clear error", async () => {
    const path = join(await tempDir(), "db");
    const s = await LevelDbStore.open(path);
    try {
      await assert.rejects(
        LevelDbStore.open(path),
        (e: unknown) => e instanceof StorageError && /in use/.test(e.message),
      );
    } finally {
      await s.close();
    }
  });

  test("sync writes work", async () => {
    const s = await LevelDbStore.open(join(await tempDir(), "db"), { sync: true });
    try {
      await s.put(b("k"), b("v"));
      await s.enqueue(b("q"), b("e"));
      assert.deepEqual(await s.get(b("k")), b("v"));
      assert.deepEqual(await s.dequeue(b("q")), b("e"));
    } finally {
      await s.close();
    }
  });
});
