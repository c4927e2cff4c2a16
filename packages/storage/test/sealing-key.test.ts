import assert from "node:assert/strict";
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { ConfigError } from "@cloister/core";
import { loadOrCreateSealingKey, sealingKeyPath } from "../src/index.js";

const dirs: string[] = [];
const dataDir = async (): Promise<string> => {
  const d = await mkdtemp(join(tmpdir(), "cloister-key-"));
  dirs.push(d);
  return d;
};
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

test("first start creates 32 random bytes at <dataDir>/storage/sealing.key, mode 0600", async () => {
  const dir = await dataDir();
  const key = await loadOrCreateSealingKey(dir);
  assert.equal(key.length, 32);
  const path = join(dir, "storage", "sealing.key");
  assert.equal(sealingKeyPath(dir), path);
  assert.deepEqual(await readFile(path), key);
  assert.equal((await stat(path)).mode & 0o777, 0o600);
  assert.equal((await stat(join(dir, "storage"))).mode & 0o077, 0);
  assert.deepEqual(await readdir(join(dir, "storage")), ["sealing.key"], "no temporary file left behind");
  assert.notDeepEqual(
    await loadOrCreateSealingKey(await dataDir()),
    key,
    "each data directory gets its own key",
  );
});

test("later starts load the same key", async () => {
  const dir = await dataDir();
  const first = await loadOrCreateSealingKey(dir);
  assert.deepEqual(await loadOrCreateSealingKey(dir), first);
});

test("concurrent first starts agree on one key", async () => {
  const dir = await dataDir();
  const keys = await Promise.all(Array.from({ length: 8 }, () => loadOrCreateSealingKey(dir)));
  for (const k of keys) assert.deepEqual(k, keys[0]);
  assert.deepEqual(await readFile(sealingKeyPath(dir)), keys[0]);
  assert.deepEqual(await readdir(join(dir, "storage")), ["sealing.key"]);
});

test("a key file readable by others, of the wrong size, or a symlink is refused", async () => {
  const dir = await dataDir();
  await loadOrCreateSealingKey(dir);
  const path = sealingKeyPath(dir);
  await chmod(path, 0o644);
  await assert.rejects(
    loadOrCreateSealingKey(dir),
    (e: unknown) => e instanceof ConfigError && /chmod 600/.test(e.message),
  );

  const short = await dataDir();
  await mkdir(join(short, "storage"));
  await writeFile(sealingKeyPath(short), Buffer.alloc(16), { mode: 0o600 });
  await assert.rejects(
    loadOrCreateSealingKey(short),
    (e: unknown) => e instanceof ConfigError && /32 bytes/.test(e.message),
  );

  const linked = await dataDir();
  await mkdir(join(linked, "storage"));
  await chmod(path, 0o600);
  await symlink(path, sealingKeyPath(linked));
  await assert.rejects(
    loadOrCreateSealingKey(linked),
    (e: unknown) => e instanceof ConfigError && /symbolic link/.test(e.message),
  );
});

test("error messages never contain key material", async () => {
  const dir = await dataDir();
  const key = await loadOrCreateSealingKey(dir);
  await chmod(sealingKeyPath(dir), 0o640);
  await assert.rejects(loadOrCreateSealingKey(dir), (e: unknown) => {
    const msg = String((e as Error).message);
    return !msg.includes(key.toString("hex")) && !msg.includes(key.toString("base64"));
  });
});
