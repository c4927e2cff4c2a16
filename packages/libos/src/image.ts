import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import {
  chmodSync,
  closeSync,
  copyFileSync,
  existsSync,
  linkSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  readSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { chmod, mkdir, rename, rm, writeFile } from "node:fs/promises";
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
export const ZYGOTE_PATH = "/cloister/zygote.py";
/** Source of the python3 runtime's warm interpreter (shipped with this package, measured in the image). */
const ZYGOTE_SOURCE = new URL("../../guest/zygote.py", import.meta.url).pathname;
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
    // biome-ignore lint/suspicious/noTemplateCurlyInString: dpkg-query's own format placeholders
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

async function packageVersions(packages: string[]): Promise<string[]> {
  if (!packages.length) return [];
  // biome-ignore lint/suspicious/noTemplateCurlyInString: dpkg-query's own format placeholders
  const { stdout } = await run("dpkg-query", ["-W", "-f", "${Package}=${Version}\n", ...packages]);
  return stdout.split("\n").filter(Boolean).sort();
}

async function packageFiles(packages: string[]): Promise<string[]> {
  if (!packages.length) return [];
  const { stdout } = await run("dpkg", ["-L", ...packages], { maxBuffer: 256 << 20 });
  return stdout.split("\n").filter((p) => p.startsWith("/") && !SKIPPED.test(p));
}

function isElf(path: string): boolean {
  let fd: number | undefined;
  try {
    fd = openSync(path, "r");
    const b = Buffer.alloc(4);
    return readSync(fd, b, 0, 4, 0) === 4 && b.equals(ELF_MAGIC);
  } catch {
    return false;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

const ELF_MAGIC = Buffer.from([0x7f, 0x45, 0x4c, 0x46]);

/** Shared libraries (and the loader) the given ELF files need, as `ldd` resolves them here. */
async function sharedLibraries(elfs: string[]): Promise<string[]> {
  const out = new Set<string>();
  const batches: string[][] = [];
  for (let i = 0; i < elfs.length; i += 48) batches.push(elfs.slice(i, i + 48));
  await Promise.all(
    batches.map(async (batch) => {
      let stdout = "";
      try {
        stdout = (await run("ldd", batch, { maxBuffer: 64 << 20 })).stdout;
      } catch (e) {
        // ldd exits non-zero when one file is static or not loadable; its output is still complete.
        stdout = (e as { stdout?: string }).stdout ?? "";
      }
      for (const m of stdout.matchAll(/(?:=>\s*)?(\/[^\s]+)\s+\(0x/g)) out.add(m[1]!);
    }),
  );
  return [...out];
}

/**
 * Adds one host path to the image the way the host resolves it: every symlink on the way
 * (`/lib` → `usr/lib`, Debian's `/etc/alternatives`) is recreated in the image and followed.
 * Synchronous on purpose: thousands of small metadata operations, no concurrency to gain.
 */
class ImageWriter {
  private readonly done = new Set<string>();
  private readonly dirs = new Set<string>(["/"]);
  files = 0;
  bytes = 0;

  constructor(private readonly root: string) {}

  add(hostPath: string, depth = 0): void {
    if (depth > 40) throw new LibosError("image", `too many symlinks resolving ${hostPath}`);
    const parts = posix.normalize(hostPath).split("/").filter(Boolean);
    let resolved = "";
    for (let i = 0; i < parts.length; i++) {
      const next = `${resolved}/${parts[i]}`;
      const last = i === parts.length - 1;
      if (!last && this.dirs.has(next)) {
        resolved = next;
        continue;
      }
      let st: ReturnType<typeof lstatSync>;
      try {
        st = lstatSync(next);
      } catch {
        return;
      }
      if (st.isSymbolicLink()) {
        const target = readlinkSync(next);
        this.ensureSymlink(next, target);
        const abs = posix.isAbsolute(target) ? target : posix.join(posix.dirname(next), target);
        this.add(posix.join(abs, ...parts.slice(i + 1)), depth + 1);
        return;
      }
      if (st.isDirectory()) {
        this.ensureDir(next, st.mode);
        resolved = next;
        continue;
      }
      if (last && st.isFile()) this.linkFile(next, st.mode, st.size);
      return;
    }
  }

  private ensureDir(path: string, mode = 0o755): void {
    if (this.dirs.has(path)) return;
    mkdirSync(join(this.root, path), { recursive: true });
    chmodSync(join(this.root, path), mode & 0o755);
    this.dirs.add(path);
  }

  private ensureSymlink(path: string, target: string): void {
    if (this.done.has(path)) return;
    this.ensureParents(path);
    try {
      symlinkSync(target, join(this.root, path));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    }
    this.done.add(path);
  }

  private ensureParents(path: string): void {
    const parent = posix.dirname(path);
    if (this.dirs.has(parent)) return;
    this.add(parent);
    mkdirSync(join(this.root, parent), { recursive: true });
  }

  private linkFile(path: string, mode: number, size: number): void {
    if (this.done.has(path)) return;
    this.ensureParents(path);
    const dest = join(this.root, path);
    // A hard link costs no space; files with setuid/setgid bits are copied without them.
    try {
      if (mode & 0o6000) throw Object.assign(new Error("set-id file"), { code: "EPERM" });
      linkSync(path, dest);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") {
        copyFileSync(path, dest);
        chmodSync(dest, mode & 0o755);
      }
    }
    this.done.add(path);
    this.files++;
    this.bytes += size;
  }

  addFile(path: string, data: Buffer, mode: number): void {
    mkdirSync(join(this.root, posix.dirname(path)), { recursive: true });
    writeFileSync(join(this.root, path), data, { mode });
    chmodSync(join(this.root, path), mode);
    this.done.add(path);
  }

  addDir(path: string): void {
    this.ensureDir(path);
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
    try {
      if (lstatSync(p).isFile()) regular.push(p);
    } catch {
      // Listed by dpkg but removed since: not part of the image.
    }
  }
  const elfs: string[] = [];
  for (const p of regular) if (isElf(p)) elfs.push(p);
  for (const lib of await sharedLibraries(elfs)) paths.add(lib);
  return [...paths].sort();
}

function hashFile(path: string): string {
  return createHash("sha256").update(readFileSync(path)).digest("hex");
}

/**
 * The image digest: SHA-256 over one line per path (sorted), with its type, permission bits and
 * content hash or symlink target. Any change to a file, a mode or the tree changes it.
 */
export async function measureTree(root: string): Promise<{ digest: string; entries: number; bytes: number }> {
  const lines: string[] = [];
  let bytes = 0;
  const walk = (rel: string): void => {
    for (const name of readdirSync(join(root, rel)).sort()) {
      const r = `${rel}/${name}`;
      const st = lstatSync(join(root, r));
      const mode = (st.mode & 0o7777).toString(8);
      if (st.isSymbolicLink()) lines.push(`L ${r} ${readlinkSync(join(root, r))}`);
      else if (st.isDirectory()) {
        lines.push(`D ${r} ${mode}`);
        walk(r);
      } else if (st.isFile()) {
        bytes += st.size;
        lines.push(`F ${r} ${mode} ${hashFile(join(root, r))}`);
      } else throw new LibosError("image", `image has a special file at ${r}`);
    }
  };
  walk("");
  const h = createHash("sha256").update("cloister/libos/image/1\n");
  for (const l of lines) h.update(`${l}\n`);
  return { digest: h.digest("hex"), entries: lines.length, bytes };
}

/**
 * Builds (or finds in `cacheDir`) the image of `runtime` with the given agent binary. Images are
 * keyed by the recipe, the agent's hash and the exact versions of the Debian packages they are
 * made of, so an upgraded package or a rebuilt agent makes a new image. Built images are never
 * modified; the measurement is taken once, when the image is built.
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
  const recipe = RUNTIMES[runtime];
  const versions = await packageVersions(await packageClosure(recipe.packages));
  const zygote = "zygote" in recipe && recipe.zygote ? readFileSync(ZYGOTE_SOURCE) : undefined;
  const key = createHash("sha256").update(JSON.stringify({ recipe, versions }));
  key.update(createHash("sha256").update(agent).digest());
  if (zygote) key.update(createHash("sha256").update(zygote).digest());
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
    const sources = await imageSources(runtime);
    const w = new ImageWriter(root);
    for (const p of sources) w.add(p);
    for (const m of MOUNT_POINTS) w.addDir(m);
    w.addFile(GUEST_PATH, agent, 0o555);
    if (zygote) w.addFile(ZYGOTE_PATH, zygote, 0o444);
    // Mount point of the per-deployment policy (bound read-only over it at launch).
    w.addFile(POLICY_PATH, Buffer.alloc(0), 0o444);
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

/** The guest agent `npm run build` produces (packages/libos/scripts/build-native.mjs). */
export const AGENT_PATH = new URL("../guest/cloister-guest", import.meta.url).pathname;
