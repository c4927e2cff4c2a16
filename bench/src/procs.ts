import { readdirSync, readFileSync } from "node:fs";

/** CPU time (user + system, ms) of each child process of `parent`, keyed by a name from its command line. */
export function childCpu(
  parent: number,
  name: (args: string[]) => string,
): Map<number, { name: string; ms: number }> {
  const out = new Map<number, { name: string; ms: number }>();
  const tick = 1000 / 100; // CLK_TCK is 100 on Linux
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      // Fields after the parenthesised command name: state(3) ppid(4) … utime(14) stime(15).
      const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (Number(rest[1]) !== parent) continue;
      const args = readFileSync(`/proc/${entry}/cmdline`, "utf8").split("\0");
      out.set(Number(entry), { name: name(args), ms: (Number(rest[11]) + Number(rest[12])) * tick });
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** CPU used per named process between two childCpu snapshots (processes of one name summed). */
export function cpuBetween(
  before: Map<number, { name: string; ms: number }>,
  after: Map<number, { name: string; ms: number }>,
): Map<string, number> {
  const used = new Map<string, number>();
  for (const [pid, a] of after) {
    const b = before.get(pid)?.ms ?? 0;
    used.set(a.name, (used.get(a.name) ?? 0) + a.ms - b);
  }
  return used;
}

/**
 * `… service <name> …` → name: a service (`storage`, `execution`, …) under the split topology,
 * `control-plane` for the one process of the combined topology; anything else is "other".
 */
export const serviceName = (args: string[]): string => {
  const i = args.indexOf("service");
  return (i >= 0 && args[i + 1]) || "other";
};
