import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** Shared Teaclave fixtures, resolved from the repository root (dist/test → ../../../../). */
const REPO_ROOT = new URL("../../../../", import.meta.url).pathname;
export const FIXTURES = join(REPO_ROOT, "fixtures", "teaclave");
export const fixture = (name: string): Buffer => readFileSync(join(FIXTURES, name));

export function tempDir(t: { after: (fn: () => void) => void }, prefix = "cloister-tee-"): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}
