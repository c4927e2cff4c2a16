import { LibosError } from "./errors.js";

/**
 * Minimal ustar archives for function payloads: regular files and directories only, the format
 * the guest agent unpacks into /app. Deterministic (mtime 0, uid/gid 0, sorted), so packing the
 * same folder twice gives the same payload hash.
 */
export interface ArchiveEntry {
  path: string;
  data?: Buffer;
  /** Permission bits (default 0644 files, 0755 directories). */
  mode?: number;
  directory?: boolean;
}

const BLOCK = 512;

function octal(n: number, width: number): string {
  return `${n.toString(8).padStart(width - 1, "0")}\0`;
}

function header(path: string, size: number, mode: number, directory: boolean): Buffer {
  const h = Buffer.alloc(BLOCK);
  let name = path;
  let prefix = "";
  if (Buffer.byteLength(name) > 100) {
    const cut = path.lastIndexOf("/", 155);
    if (cut <= 0 || Buffer.byteLength(path.slice(cut + 1)) > 100) {
      throw new LibosError("manifest", `path too long for the archive: ${path.slice(0, 80)}…`);
    }
    prefix = path.slice(0, cut);
    name = path.slice(cut + 1);
  }
  h.write(name, 0, 100, "utf8");
  h.write(octal(mode, 8), 100, "ascii");
  h.write(octal(0, 8), 108, "ascii");
  h.write(octal(0, 8), 116, "ascii");
  h.write(octal(size, 12), 124, "ascii");
  h.write(octal(0, 12), 136, "ascii");
  h.fill(" ", 148, 156);
  h.write(directory ? "5" : "0", 156, "ascii");
  h.write("ustar\0", 257, "ascii");
  h.write("00", 263, "ascii");
  h.write(prefix, 345, 155, "utf8");
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148, "ascii");
  return h;
}

function checkPath(p: string): string {
  const clean = p.replace(/^\.\/+/, "");
  if (
    !clean ||
    clean.startsWith("/") ||
    clean.split("/").some((s) => s === ".." || s === "") ||
    clean.includes("\0")
  ) {
    throw new LibosError("manifest", `archive path ${JSON.stringify(p)} is not a plain relative path`);
  }
  return clean;
}

export function packArchive(entries: ArchiveEntry[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of [...entries].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))) {
    const path = checkPath(e.path);
    if (e.directory) {
      parts.push(header(`${path}/`, 0, e.mode ?? 0o755, true));
      continue;
    }
    const data = e.data ?? Buffer.alloc(0);
    parts.push(header(path, data.length, e.mode ?? 0o644, false), data);
    const pad = (BLOCK - (data.length % BLOCK)) % BLOCK;
    if (pad) parts.push(Buffer.alloc(pad));
  }
  parts.push(Buffer.alloc(BLOCK * 2));
  return Buffer.concat(parts);
}

export const isArchive = (b: Buffer): boolean =>
  b.length >= BLOCK && b.toString("ascii", 257, 262) === "ustar";

/** Reads the regular files of a ustar archive (what the agent would unpack). */
export function readArchive(b: Buffer): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  let at = 0;
  while (at + BLOCK <= b.length) {
    const h = b.subarray(at, at + BLOCK);
    if (h.every((x) => x === 0)) break;
    const str = (o: number, n: number) => h.toString("utf8", o, o + n).replace(/\0.*$/s, "");
    const size = Number.parseInt(str(124, 12).trim() || "0", 8);
    if (!Number.isFinite(size) || size < 0) throw new LibosError("manifest", "archive header is corrupt");
    const prefix = str(345, 155);
    const name = (prefix ? `${prefix}/` : "") + str(0, 100);
    const type = str(156, 1) || "0";
    at += BLOCK;
    if (at + size > b.length) throw new LibosError("manifest", "archive is truncated");
    if (type === "0") out.set(checkPath(name), Buffer.from(b.subarray(at, at + size)));
    else if (type !== "5")
      throw new LibosError("manifest", `archive entry ${name.slice(0, 80)} is not a file or directory`);
    at += Math.ceil(size / BLOCK) * BLOCK;
  }
  return out;
}
