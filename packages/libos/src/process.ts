import { type ChildProcess, spawn } from "node:child_process";
import type { Instance, InstanceExit } from "./backend.js";

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

/**
 * The instances one backend has running. Each instance is torn down exactly once, whichever
 * comes first: an explicit kill, the launch signal aborting, or the launcher exiting by itself;
 * `closeAll` tears down what is left.
 */
export class LiveInstances {
  private readonly live = new Map<string, Instance>();

  /**
   * Wraps a launched sandbox. `teardown` must leave nothing of the instance behind (processes,
   * state, cgroups); it runs after the launcher's process group was sent SIGKILL.
   */
  adopt(
    id: string,
    launched: { child: ChildProcess; exited: Promise<InstanceExit> },
    teardown: () => Promise<void>,
    signal?: AbortSignal,
  ): Instance {
    const { child, exited } = launched;
    let killing: Promise<void> | undefined;
    const instance: Instance = {
      id,
      input: child.stdin!,
      output: child.stdout!,
      diagnostics: child.stderr!,
      exited,
      kill: () => {
        killing ??= (async () => {
          killGroup(child);
          await teardown();
          this.live.delete(id);
        })();
        return killing;
      },
    };
    this.live.set(id, instance);
    const onAbort = () => void instance.kill();
    signal?.addEventListener("abort", onAbort, { once: true });
    exited.then(() => {
      signal?.removeEventListener("abort", onAbort);
      void instance.kill();
    });
    return instance;
  }

  async closeAll(): Promise<void> {
    await Promise.all([...this.live.values()].map((i) => i.kill()));
  }
}
