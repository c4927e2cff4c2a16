import { type ChildProcess, spawn } from "node:child_process";
import type { InstanceExit } from "./backend.js";

/** Spawns a sandbox launcher in its own process group with piped stdio. */
export function spawnLauncher(
  cmd: string,
  args: string[],
): { child: ChildProcess; exited: Promise<InstanceExit> } {
  const child = spawn(cmd, args, {
    stdio: ["pipe", "pipe", "pipe"],
    detached: true,
    env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin" },
  });
  const exited = new Promise<InstanceExit>((resolve) => {
    child.once("exit", (code, signal) => resolve({ code, signal }));
    child.once("error", () => resolve({ code: null, signal: null }));
  });
  // Writes to an instance that died must not crash the node.
  child.stdin?.on("error", () => undefined);
  return { child, exited };
}

export function killGroup(child: ChildProcess): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, "SIGKILL");
  } catch {
    // Already gone.
  }
}

export const withTimeout = <T>(p: Promise<T>, ms: number): Promise<T | undefined> =>
  Promise.race([p, new Promise<undefined>((r) => (setTimeout(r, ms) as unknown as NodeJS.Timeout).unref())]);
