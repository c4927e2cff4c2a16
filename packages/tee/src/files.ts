// Create-once files shared by concurrently starting processes: the first writer wins
// atomically (hard link of a fully written temporary file), later ones read its result.
import { randomBytes } from "node:crypto";
import { promises as fs } from "node:fs";
import { dirname } from "node:path";

/**
 * Returns the content of `path`, creating it with `create()` if it does not exist. When several
 * processes race, exactly one content wins and every caller gets that content.
 */
export async function readOrCreate(
  path: string,
  create: () => Promise<string>,
  mode: number,
): Promise<string> {
  try {
    return await fs.readFile(path, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
  }
  await fs.mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const content = await create();
  await writeAtomic(path, content, mode, false);
  return fs.readFile(path, "utf8");
}

/** Writes `content` to `path` atomically; with `replace` false an existing file is kept. */
export async function writeAtomic(
  path: string,
  content: string,
  mode: number,
  replace = true,
): Promise<void> {
  await fs.mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`;
  await fs.writeFile(tmp, content, { mode, flag: "wx" });
  try {
    await fs.chmod(tmp, mode);
    if (replace) await fs.rename(tmp, path);
    else {
      try {
        await fs.link(tmp, path);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      }
    }
  } finally {
    await fs.rm(tmp, { force: true });
  }
}
