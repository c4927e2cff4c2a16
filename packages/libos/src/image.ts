import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { createReadStream, existsSync, readFileSync } from "node:fs";
import {
  chmod,
  copyFile,
  link,
  lstat,
  mkdir,
  open,
  readdir,
  readlink,
  rename,
  rm,
  symlink,
  writeFile,
} from "node:fs/promises";
import { dirname, join, posix } from "node:path";
import { promisify } from "node:util";
import { LibosError } from "./errors.js";
import { RUNTIMES, type RuntimeName } from "./runtimes.js";

const run = promisify(execFile);

/** A runtime image on disk: a read-only root and the digest of everything in it. */
export interface RuntimeImage {
  runtime: RuntimeName;
  /** The image's root directory (never written after it is built). */
  root: string;
  /** SHA-256 (hex) over every path, type, mode and content in the root. */
  digest: string;
  /** Paths in the image. */
  entries: number;
  bytes: number;
}

/** Where the agent and the per-deployment policy sit inside every image. */
export const GUEST_PATH = "/cloister/guest";
export const POLICY_PATH = "/cloister/policy.json";
/** Empty mount points: tmpfs at run time. */
const MOUNT_POINTS = ["/app", "/task", "/tmp", "/proc", "/dev"];
/** Package files no program needs at run time. */
const SKIPPED = /^\/usr\/share\/(doc|man|info|lintian|bug|locale|menu|applications|icons|pixmaps)(\/|$)/;
/** Packages a dependency closure must not pull in: tools, compilers and headers, not run-time parts. */
const NOT_RUNTIME =
  /-dev$|^(gcc|g\+\+|cpp)(-\d+)?$|^binutils|perl|^debconf|^dpkg|pythran|beniget|^python3-gast|^python3-ply|^libc-dev-bin|^linux-libc-dev|^rpcsvc-proto|^tzdata|^lsb-base|^sensible-utils|^ca-certificates|^adduser|^passwd|^login$|^libpam|^util-linux|^mount$|^bash$|^coreutils|^base-|^init-system|^sysvinit|^systemd/;

interface InstalledPackage {
  depends: string[][];
}

async function installedPackages(): Promise<Map<string, InstalledPackage>> {
  const { stdout } = await run(
    "dpkg-query",
    ["-W", "-f", "${Package}\t${db:Status-Abbrev}\t${Depends}, ${Pre-Depends}\n"],
    { maxBuffer: 64 << 20 },
  );
  const out = new Map<string, InstalledPackage>();
  for (const line of stdout.split("\n")) {
    const [name, status, deps] = line.split("\t");
    if (!name || !status?.startsWith("ii")) continue;
    const depends = (deps ?? "")
      .split(",")
      .map((alt) =>
        alt
          .split("|")
          .map(
            (a) =>
              a
                .replace(/\(.*?\)|\[.*?\]|<.*?>/g, "")
                .trim()
                .split(":")[0]!,
          )
          .filter(Boolean),
      )
      .filter((a) => a.length);
    out.set(name, { depends });
  }
  return out;
}

/** The packages of a recipe and their run-time dependencies (first installed alternative). */
export async function packageClosure(roots: readonly string[]): Promise<string[]> {
  const installed = await installedPackages();
  const seen = new Set<string>();
  const todo = [...roots];
  for (const r of roots) {
    if (!installed.has(r))
      throw new LibosError("image", `Debian package ${r} is not installed (apt-get install ${r})`);
  }
  while (todo.length) {
    const p = todo.pop()!;
    if (seen.has(p)) continue;
    if (!roots.includes(p) && NOT_RUNTIME.test(p)) continue;
    seen.add(p);
    for (const alt of installed.get(p)?.depends ?? []) {
      const pick = alt.find((a) => installed.has(a));
      if (pick) todo.push(pick);
    }
  }
  return [...seen].sort();
}

async function packageFiles(packages: string[]): Promise<string[]> {
  if (!packages.length) return [];
  const { stdout } = await run("dpkg", ["-L", ...packages], { maxBuffer: 256 << 20 });
  return stdout.split("\n").filter((p) => p.startsWith("/") && !SKIPPED.test(p));
}

async function isElf(path: string): Promise<boolean> {
  const fh = await open(path, "r").catch(() => undefined);
  if (!fh) return false;
  try {
    const b = Buffer.alloc(4);
    await fh.read(b, 0, 4, 0);
    return b.equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46]));
  } finally {
    await fh.close();
  }
}

/** Shared libraries (and the loader) the given ELF files need, as `ldd` resolves them here. */
async function sharedLibraries(elfs: string[]): Promise<string[]> {
  const out = new Set<string>();
  for (let i = 0; i < elfs.length; i += 64) {
    const batch = elfs.slice(i, i + 64);
    let stdout = "";
    try {
      stdout = (await run("ldd", batch, { maxBuffer: 64 << 20 })).stdout;
    } catch (e) {
      // ldd exits non-zero when one file is static or not loadable; its output is still complete.
      stdout = (e as { stdout?: string }).stdout ?? "";
    }
    for (const m of stdout.matchAll(/(?:=>\s*)?(\/[^\s]+)\s+\(0x/g)) out.add(m[1]!);
  }
  return [...out];
}

/**
 * Adds one host path to the image the way the host resolves it: every symlink on the way
 * (`/lib` → `usr/lib`, Debian's `/etc/alternatives`) is recreated in the image and followed.
 */
class ImageWriter {
  private readonly done = new Set<string>();
  files = 0;
  bytes = 0;

  constructor(private readonly root: string) {}

  async add(hostPath: string, depth = 0): Promise<void> {
    if (depth > 40) throw new LibosError("image", `too many symlinks resolving ${hostPath}`);
    const parts = posix.normalize(hostPath).split("/").filter(Boolean);
    let resolved = "";
    for (let i = 0; i < parts.length; i++) {
      const next = `${resolved}/${parts[i]}`;
      const st = await lstat(next).catch(() => undefined);
      if (!st) return;
      const last = i === parts.length - 1;
      if (st.isSymbolicLink()) {
        const target = await readlink(next);
        await this.ensureSymlink(next, target);
        const abs = posix.isAbsolute(target) ? target : posix.join(posix.dirname(next), target);
        await this.add(posix.join(abs, ...parts.slice(i + 1)), depth + 1);
        return;
      }
      if (!last) {
        if (!st.isDirectory()) return;
        resolved = next;
        continue;
      }
      if (st.isDirectory()) await this.ensureDir(next, st.mode);
      else if (st.isFile()) await this.linkFile(next, st.mode, st.size);
      return;
    }
  }

  private async ensureDir(path: string, mode = 0o755): Promise<void> {
    if (this.done.has(path)) return;
    await mkdir(join(this.root, path), { recursive: true });
    await chmod(join(this.root, path), mode & 0o755);
    this.done.add(path);
  }

  private async ensureSymlink(path: string, target: string): Promise<void> {
    if (this.done.has(path)) return;
    await this.ensureParents(path);
    await symlink(target, join(this.root, path)).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== "EEXIST") throw e;
    });
    this.done.add(path);
  }

  private async ensureParents(path: string): Promise<void> {
    const parent = posix.dirname(path);
    if (parent === "/" || this.done.has(parent)) return;
    await this.add(parent);
    await mkdir(join(this.root, parent), { recursive: true });
  }

  private async linkFile(path: string, mode: number, size: number): Promise<void> {
    if (this.done.has(path)) return;
    await this.ensureParents(path);
    const dest = join(this.root, path);
    // A hard link costs no space; files with setuid/setgid bits are copied without them.
    const linked =
      mode & 0o6000 ? Promise.reject(Object.assign(new Error("setid"), { code: "EPERM" })) : link(path, dest);
    await linked.catch(async (e: NodeJS.ErrnoException) => {
      if (e.code === "EEXIST") return;
      await copyFile(path, dest);
      await chmod(dest, mode & 0o755);
    });
    this.done.add(path);
    this.files++;
    this.bytes += size;
  }

  async addFile(path: string, data: Buffer, mode: number): Promise<void> {
    await mkdir(join(this.root, posix.dirname(path)), { recursive: true });
    await writeFile(join(this.root, path), data, { mode });
    await chmod(join(this.root, path), mode);
    this.done.add(path);
  }

  async addDir(path: string): Promise<void> {
    await this.ensureDir(path);
  }
}

/** The host paths an image of `runtime` is made of (before the agent is added). */
export async function imageSources(runtime: RuntimeName): Promise<string[]> {
  const recipe = RUNTIMES[runtime];
  const files = await packageFiles(await packageClosure(recipe.packages));
  const paths = new Set<string>([...files, ...recipe.paths]);
  // Debian byte-compiles Python modules at install time, outside dpkg's file lists; without them
  // every import on a read-only root compiles again (numpy: 336 ms instead of 89).
  for (const f of files) {
    if (f.endsWith(".py")) {
      const pyc = join(dirname(f), "__pycache__", `${posix.basename(f, ".py")}.cpython-311.pyc`);
      if (existsSync(pyc)) paths.add(pyc);
    }
  }
  const regular: string[] = [];
  for (const p of paths) {
    const st = await lstat(p).catch(() => undefined);
    if (st?.isFile()) regular.push(p);
  }
  const elfs: string[] = [];
  for (const p of regular) if (await isElf(p)) elfs.push(p);
  for (const lib of await sharedLibraries(elfs)) paths.add(lib);
  return [...paths].sort();
}

async function hashFile(path: string): Promise<string> {
  const h = createHash("sha256");
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest("hex");
}

/**
 * The image digest: SHA-256 over one line per path (sorted), with its type, permission bits and
 * content hash or symlink target. Any change to a file, a mode or the tree changes it.
 */
export async function measureTree(root: string): Promise<{ digest: string; entries: number; bytes: number }> {
  const lines: string[] = [];
  let bytes = 0;
  const walk = async (rel: string): Promise<void> => {
    const names = (await readdir(join(root, rel))).sort();
    for (const name of names) {
      const r = `${rel}/${name}`;
      const st = await lstat(join(root, r));
      const mode = (st.mode & 0o7777).toString(8);
      if (st.isSymbolicLink()) lines.push(`L ${r} ${await readlink(join(root, r))}`);
      else if (st.isDirectory()) {
        lines.push(`D ${r} ${mode}`);
        await walk(r);
      } else if (st.isFile()) {
        bytes += st.size;
        lines.push(`F ${r} ${mode} ${await hashFile(join(root, r))}`);
      } else throw new LibosError("image", `image has a special file at ${r}`);
    }
  };
  await walk("");
  const h = createHash("sha256").update("cloister/libos/image/1\n");
  for (const l of lines) h.update(`${l}\n`);
  return { digest: h.digest("hex"), entries: lines.length, bytes };
}

/**
 * Builds (or finds in `cacheDir`) the image of `runtime` with the given agent binary. Images are
 * keyed by the recipe, the agent's hash and the identity (inode, size, mtime) of every source
 * file, so an upgraded Debian package or a rebuilt agent makes a new image.
 */
export async function buildImage(
  runtime: RuntimeName,
  agentPath: string,
  cacheDir: string,
): Promise<RuntimeImage> {
  if (!existsSync(agentPath)) {
    throw new LibosError(
      "image",
      `the guest agent is not built at ${agentPath} (install golang-go, run npm run build)`,
    );
  }
  const agent = readFileSync(agentPath);
  const sources = await imageSources(runtime);
  const key = createHash("sha256").update(JSON.stringify(RUNTIMES[runtime]));
  key.update(createHash("sha256").update(agent).digest());
  for (const p of sources) {
    const st = await lstat(p);
    key.update(`${p}\0${st.ino}\0${st.size}\0${st.mtimeMs}\0${st.mode}\n`);
  }
  const dir = join(cacheDir, `${runtime}-${key.digest("hex").slice(0, 24)}`);
  const metaPath = join(dir, "image.json");
  if (existsSync(metaPath)) {
    const meta = JSON.parse(readFileSync(metaPath, "utf8")) as Omit<RuntimeImage, "root">;
    return { ...meta, runtime, root: join(dir, "root") };
  }
  await mkdir(cacheDir, { recursive: true, mode: 0o700 });
  const tmp = `${dir}.tmp-${process.pid}-${Date.now()}`;
  const root = join(tmp, "root");
  await mkdir(root, { recursive: true, mode: 0o755 });
  try {
    const w = new ImageWriter(root);
    for (const p of sources) await w.add(p);
    for (const m of MOUNT_POINTS) await w.addDir(m);
    await w.addFile(GUEST_PATH, agent, 0o555);
    // Mount point of the per-deployment policy (bound read-only over it at launch).
    await w.addFile(POLICY_PATH, Buffer.alloc(0), 0o444);
    await chmod(join(root, "cloister"), 0o555);
    const m = await measureTree(root);
    const meta = { runtime, digest: m.digest, entries: m.entries, bytes: m.bytes };
    await writeFile(join(tmp, "image.json"), JSON.stringify(meta));
    await rename(tmp, dir).catch(async (e: NodeJS.ErrnoException) => {
      // Another process built the same image meanwhile: keep theirs.
      if (e.code !== "ENOTEMPTY" && e.code !== "EEXIST") throw e;
      await rm(tmp, { recursive: true, force: true });
    });
    const final = JSON.parse(readFileSync(metaPath, "utf8")) as Omit<RuntimeImage, "root">;
    return { ...final, runtime, root: join(dir, "root") };
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    throw e instanceof LibosError
      ? e
      : new LibosError("image", `building the ${runtime} image failed: ${(e as Error).message}`, {
          cause: e,
        });
  }
}
