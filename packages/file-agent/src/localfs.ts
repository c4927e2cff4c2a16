import { constants, type Stats } from "node:fs";
import { type FileHandle, lstat, mkdir, open, readlink, unlink } from "node:fs/promises";
import { join } from "node:path";
import { FileAgentError } from "./errors.js";

const { O_RDONLY, O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW, O_NONBLOCK, O_NOCTTY } = constants;

type Verb = "download" | "upload";

const ioError = (verb: Verb, e: NodeJS.ErrnoException): FileAgentError => {
  if (e instanceof FileAgentError) return e;
  if (e.code === "ENOENT") return new FileAgentError("NOT_FOUND", `${verb} failed: ENOENT`, { cause: e });
  if (e.code === "EEXIST")
    return new FileAgentError("ALREADY_EXISTS", `${verb} failed: EEXIST`, { cause: e });
  if (e.code === "ELOOP")
    return new FileAgentError("PATH_NOT_ALLOWED", `${verb} failed: symbolic link`, { cause: e });
  return new FileAgentError("IO", `${verb} failed: ${e.code ?? "I/O error"}`, { cause: e });
};

/**
 * `root` (already resolved with realpath) joined with `segments`, where every directory below the
 * root must be a real directory, not a symlink. With `create`, missing directories are made (0700).
 */
async function walk(root: string, dirs: string[], verb: Verb, create: boolean): Promise<string> {
  let path = root;
  for (const d of dirs) {
    path = join(path, d);
    let st: Stats;
    try {
      st = await lstat(path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT" || !create) throw ioError(verb, e as Error);
      await mkdir(path, { mode: 0o700 }).catch((m: NodeJS.ErrnoException) => {
        if (m.code !== "EEXIST") throw ioError(verb, m);
      });
      st = await lstat(path);
    }
    if (!st.isDirectory() || st.isSymbolicLink())
      throw new FileAgentError(
        "PATH_NOT_ALLOWED",
        `${verb} failed: not a directory (symbolic links are refused)`,
      );
  }
  return path;
}

/**
 * The kernel's own name for an open descriptor must be the path checked: if a directory on the
 * way was swapped for a symlink between the walk and the open, this sees where the open landed.
 */
async function confirmOpened(fh: FileHandle, expected: string, verb: Verb): Promise<void> {
  let actual: string;
  try {
    actual = await readlink(`/proc/self/fd/${fh.fd}`);
  } catch (e) {
    // Without procfs the open cannot be confirmed; refusing is the safe answer, and says why.
    throw new FileAgentError("IO", `${verb} failed: cannot confirm the opened path (is /proc mounted?)`, {
      cause: e,
    });
  }
  if (actual !== expected)
    throw new FileAgentError("PATH_NOT_ALLOWED", `${verb} failed: the path changed while it was opened`);
}

/** Reads a regular file below `root` (no symlinks, FIFOs, devices or sockets anywhere on the way). */
export async function readBelow(root: string, segments: string[], maxBytes: number): Promise<Buffer> {
  const dir = await walk(root, segments.slice(0, -1), "download", false);
  const path = join(dir, segments.at(-1)!);
  const before = await lstat(path).catch((e: Error) => {
    throw ioError("download", e);
  });
  if (!before.isFile()) throw new FileAgentError("NOT_REGULAR_FILE", "download failed: not a regular file");
  // O_NONBLOCK: had a FIFO replaced the file since lstat, opening it must not hang the node.
  const fh = await open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY).catch((e: Error) => {
    throw ioError("download", e);
  });
  try {
    const st = await fh.stat();
    if (!st.isFile() || st.ino !== before.ino || st.dev !== before.dev)
      throw new FileAgentError("NOT_REGULAR_FILE", "download failed: not a regular file");
    await confirmOpened(fh, path, "download");
    if (st.size > maxBytes)
      throw new FileAgentError("TOO_LARGE", `download failed: file larger than ${maxBytes} bytes`);
    const data = await fh.readFile();
    if (data.length > maxBytes)
      throw new FileAgentError("TOO_LARGE", `download failed: file larger than ${maxBytes} bytes`);
    return data;
  } finally {
    await fh.close();
  }
}

/** Creates a new file below `root` (never overwrites; parent directories made as needed, 0700). */
export async function createBelow(root: string, segments: string[], data: Buffer): Promise<void> {
  const dir = await walk(root, segments.slice(0, -1), "upload", true);
  const path = join(dir, segments.at(-1)!);
  // O_EXCL makes "must not exist" and the create one step (the legacy agent never overwrites).
  const fh = await open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_NOCTTY, 0o600).catch(
    (e: Error) => {
      throw ioError("upload", e);
    },
  );
  let confirmed = false;
  let written = false;
  try {
    await confirmOpened(fh, path, "upload").catch(async (e: unknown) => {
      // The file was created where the swapped path led: remove exactly that file, nothing else.
      const landed = await readlink(`/proc/self/fd/${fh.fd}`).catch(() => undefined);
      if (landed) await unlink(landed).catch(() => undefined);
      throw e;
    });
    confirmed = true;
    await fh.writeFile(data);
    written = true;
  } catch (e) {
    throw ioError("upload", e as Error);
  } finally {
    await fh.close();
    // A partial file must not look like a delivered output.
    if (confirmed && !written) await unlink(path).catch(() => undefined);
  }
}
