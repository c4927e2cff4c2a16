import { existsSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";

/**
 * The platform data directory, always absolute: the one given (--data-dir or CLOISTER_HOME,
 * relative to here), else the nearest `.cloister` in this directory or a parent (as `npm start`
 * creates at the root of a checkout), else `./.cloister`.
 */
export function resolveDataDir(
  given: string | undefined,
  cwd = process.cwd(),
): { path: string; explicit: boolean } {
  if (given) return { path: resolve(cwd, given), explicit: true };
  for (let dir = resolve(cwd); ; dir = dirname(dir)) {
    const candidate = join(dir, ".cloister");
    if (existsSync(candidate) && statSync(candidate).isDirectory())
      return { path: candidate, explicit: false };
    if (dirname(dir) === dir) break;
  }
  return { path: resolve(cwd, ".cloister"), explicit: false };
}
