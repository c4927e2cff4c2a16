import { lstatSync, readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { type ArchiveEntry, packArchive } from "./archive.js";
import { LibosError } from "./errors.js";
import { MANIFEST_FILE, parseManifest } from "./manifest.js";

/** The platform's largest request (RegisterFunction carries the payload). */
export const MAX_PAYLOAD_BYTES = 16 * 1024 * 1024 - 64 * 1024;

/**
 * Packs a function folder into a payload: a deterministic ustar archive of its regular files
 * and directories with `cloister-function.toml` (validated) at the top. Symlinks and special
 * files are refused, so what an owner reviews is exactly what runs.
 */
export function packFunctionDirectory(dir: string): Buffer {
  const manifest = readFileSync(join(dir, MANIFEST_FILE), "utf8");
  parseManifest(manifest);
  const entries: ArchiveEntry[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      const rel = relative(dir, p);
      const st = lstatSync(p);
      if (st.isDirectory()) {
        entries.push({ path: rel, directory: true });
        walk(p);
      } else if (st.isFile()) {
        entries.push({ path: rel, data: readFileSync(p), mode: st.mode & 0o111 ? 0o755 : 0o644 });
      } else {
        throw new LibosError(
          "manifest",
          `${rel} is not a regular file or directory (symlinks are not packed)`,
        );
      }
    }
  };
  walk(dir);
  const archive = packArchive(entries);
  if (archive.length > MAX_PAYLOAD_BYTES) {
    throw new LibosError(
      "manifest",
      `the packed function is ${archive.length} bytes, more than the ${MAX_PAYLOAD_BYTES} a payload may have`,
    );
  }
  return archive;
}
