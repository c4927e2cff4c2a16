// Code measurement: the simulated counterpart of MRENCLAVE. It hashes exactly the JavaScript a
// service executes, so any code change yields a different measurement.
import { createHash } from "node:crypto";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { basename, join, relative, resolve, sep } from "node:path";
import { ConfigError } from "@cloister/core";

const DOMAIN = "cloister-mrenclave-v1\0";

function walkJs(dir: string, out: string[]): void {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    if (entry.isDirectory()) walkJs(p, out);
    else if (entry.isFile() && entry.name.endsWith(".js")) out.push(p);
  }
}

const toPosix = (p: string) => p.split(sep).join("/");

/**
 * Hashes (label, content) pairs sorted by label: SHA-256 over a domain tag, then per file
 * `label NUL length(u64 BE) content`. The length prefix keeps file boundaries unambiguous.
 */
function hashEntries(entries: Array<{ label: string; path: string }>): Buffer {
  const sorted = [...entries].sort((a, b) => (a.label < b.label ? -1 : a.label > b.label ? 1 : 0));
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i]!.label === sorted[i - 1]!.label)
      throw new ConfigError(`duplicate measured path ${sorted[i]!.label}`);
  }
  const h = createHash("sha256").update(DOMAIN);
  for (const e of sorted) {
    const content = readFileSync(e.path);
    const len = Buffer.alloc(8);
    len.writeBigUInt64BE(BigInt(content.length));
    h.update(e.label).update("\0").update(len).update(content);
  }
  return h.digest();
}

/**
 * Measures code: a directory (every `.js` file below it, labelled by its path relative to the
 * directory) or a list of files (labelled relative to `baseDir`, default the current directory).
 */
export function measureCode(source: string | readonly string[], baseDir = process.cwd()): Buffer {
  if (typeof source === "string") {
    const files: string[] = [];
    walkJs(resolve(source), files);
    return hashEntries(files.map((f) => ({ label: toPosix(relative(resolve(source), f)), path: f })));
  }
  return hashEntries(
    source.map((f) => ({ label: toPosix(relative(resolve(baseDir), resolve(f))), path: resolve(f) })),
  );
}

function packageLabel(dir: string): string {
  try {
    const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as { name?: unknown };
    if (typeof pkg.name === "string" && pkg.name) return pkg.name;
  } catch {
    // fall through: a directory without package.json is labelled by its folder name
  }
  return basename(resolve(dir));
}

/**
 * Measures the compiled code (`dist/src/**\/*.js`) of the given package directories. Files are
 * labelled `<package name>/<path inside dist/src>`, so the result does not depend on where the
 * checkout lives and can be published ahead of time in `enclave_info.toml`.
 */
export function measureDirectories(dirs: readonly string[]): Buffer {
  const entries: Array<{ label: string; path: string }> = [];
  for (const dir of dirs) {
    const root = join(resolve(dir), "dist", "src");
    if (!statSync(root, { throwIfNoEntry: false })?.isDirectory()) {
      throw new ConfigError(`cannot measure ${dir}: ${root} does not exist (build it first)`);
    }
    const files: string[] = [];
    walkJs(root, files);
    const label = packageLabel(dir);
    for (const f of files) entries.push({ label: `${label}/${toPosix(relative(root, f))}`, path: f });
  }
  return hashEntries(entries);
}

/**
 * MRENCLAVE of a service: its name bound to the measurement of its code, so two services built
 * from the same packages still get distinct identities (the name plays the role of the data an
 * SGX enclave has baked in).
 */
export function measureService(serviceName: string, dirs: readonly string[]): Buffer {
  return createHash("sha256")
    .update("cloister-service-v1\0")
    .update(serviceName)
    .update("\0")
    .update(measureDirectories(dirs))
    .digest();
}
