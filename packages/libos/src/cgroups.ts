import { existsSync, readdirSync } from "node:fs";
import { rmdir, writeFile } from "node:fs/promises";
import { join } from "node:path";

const ROOT = "/sys/fs/cgroup";
/** The one parent every instance's cgroup lives under, so leftovers are easy to see. */
export const CGROUP_PARENT = "cloister-libos";

/** cgroup v1 hierarchies (this host has no v2 controllers) that hold an instance's directory. */
function hierarchies(): string[] {
  if (!existsSync(ROOT)) return [];
  return readdirSync(ROOT)
    .map((d) => join(ROOT, d))
    .filter((d) => existsSync(join(d, "cgroup.procs")));
}

/** Removes an instance's cgroup directories once its processes are gone. */
export async function removeCgroups(id: string): Promise<void> {
  await Promise.all(
    hierarchies().map(async (h) => {
      const dir = join(h, CGROUP_PARENT, id);
      for (let i = 0; i < 20 && existsSync(dir); i++) {
        try {
          await rmdir(dir);
        } catch {
          await new Promise((r) => setTimeout(r, 25));
        }
      }
    }),
  );
}

/** Removes the common parent directories if no instance is left in them. */
export async function removeCgroupParents(): Promise<void> {
  await Promise.all(hierarchies().map((h) => rmdir(join(h, CGROUP_PARENT)).catch(() => undefined)));
}

/**
 * Removes instance cgroups a crashed node left behind. Only empty ones go: rmdir of a cgroup that
 * still holds processes (another node's live instance) fails, so this is safe beside others.
 */
export async function sweepEmptyCgroups(): Promise<void> {
  await Promise.all(leftoverCgroups().map((d) => rmdir(d).catch(() => undefined)));
}

/** Instance cgroup directories still present (tests check that none is left). */
export function leftoverCgroups(): string[] {
  return hierarchies().flatMap((h) => {
    const dir = join(h, CGROUP_PARENT);
    return existsSync(dir)
      ? readdirSync(dir, { withFileTypes: true })
          .filter((d) => d.isDirectory())
          .map((d) => join(dir, d.name))
      : [];
  });
}

/**
 * Creates memory and pids cgroups for a bubblewrap instance (root only); returns the
 * `cgroup.procs` files to put its first process into, or undefined when cgroups are not writable.
 */
export async function createLimitCgroups(
  id: string,
  memoryBytes: number,
  processes: number,
): Promise<string[] | undefined> {
  const memory = join(ROOT, "memory");
  const pids = join(ROOT, "pids");
  if (!existsSync(join(memory, "cgroup.procs")) || !existsSync(join(pids, "cgroup.procs"))) return undefined;
  try {
    const { mkdir } = await import("node:fs/promises");
    const m = join(memory, CGROUP_PARENT, id);
    const p = join(pids, CGROUP_PARENT, id);
    await mkdir(m, { recursive: true });
    await mkdir(p, { recursive: true });
    await writeFile(join(m, "memory.limit_in_bytes"), String(memoryBytes));
    // Swap counts too where the kernel accounts it, so a memory bomb cannot page out.
    await writeFile(join(m, "memory.memsw.limit_in_bytes"), String(memoryBytes)).catch(() => undefined);
    await writeFile(join(p, "pids.max"), String(processes));
    return [join(m, "cgroup.procs"), join(p, "cgroup.procs")];
  } catch {
    await removeCgroups(id);
    return undefined;
  }
}
