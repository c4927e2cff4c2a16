import { randomBytes } from "node:crypto";
import { constants, type FileHandle, link, mkdir, open, unlink } from "node:fs/promises";
import { join } from "node:path";
import { ConfigError } from "@cloister/core";

const KEY_BYTES = 32;

/** Where the sealing key of a data directory lives. */
export const sealingKeyPath = (dataDir: string): string => join(dataDir, "storage", "sealing.key");

/**
 * The data directory's sealing key: 32 random bytes at `<dataDir>/storage/sealing.key`
 * (mode 0600), created on first start. Creation is atomic and race-free: the key is written
 * and fsynced under a temporary name, then hard-linked into place, which fails if another
 * process got there first (its key is then used). A key file that is readable by group or
 * others, or that is not exactly 32 bytes, is refused with ConfigError.
 */
export async function loadOrCreateSealingKey(dataDir: string): Promise<Buffer> {
  if (typeof dataDir !== "string" || dataDir === "")
    throw new ConfigError("data directory must be a non-empty path");
  const dir = join(dataDir, "storage");
  const path = sealingKeyPath(dataDir);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const existing = await readKey(path);
  if (existing) return existing;

  const tmp = join(dir, `.sealing.key.${process.pid}.${randomBytes(6).toString("hex")}.tmp`);
  const key = randomBytes(KEY_BYTES);
  let fh: FileHandle | undefined;
  try {
    fh = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
    await fh.writeFile(key);
    await fh.sync();
    await fh.close();
    fh = undefined;
    try {
      await link(tmp, path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      const winner = await readKey(path);
      if (!winner) throw new ConfigError(`sealing key ${path} vanished while being created`);
      return winner;
    }
    await syncDir(dir);
    return key;
  } finally {
    await fh?.close().catch(() => {});
    await unlink(tmp).catch(() => {});
  }
}

async function readKey(path: string): Promise<Buffer | undefined> {
  let fh: FileHandle;
  try {
    fh = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return undefined;
    if (code === "ELOOP") throw new ConfigError(`sealing key ${path} must not be a symbolic link`);
    throw new ConfigError(`cannot read sealing key ${path}`, { cause: e });
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new ConfigError(`sealing key ${path} is not a regular file`);
    if ((st.mode & 0o077) !== 0) {
      throw new ConfigError(`sealing key ${path} must not be accessible by group or others (chmod 600)`);
    }
    const key = await fh.readFile();
    if (key.length !== KEY_BYTES)
      throw new ConfigError(`sealing key ${path} must hold exactly ${KEY_BYTES} bytes`);
    return key;
  } finally {
    await fh.close();
  }
}

async function syncDir(dir: string): Promise<void> {
  const d = await open(dir, constants.O_RDONLY);
  try {
    await d.sync();
  } finally {
    await d.close();
  }
}
