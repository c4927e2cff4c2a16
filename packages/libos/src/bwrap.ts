import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import type { Instance, InstanceLimits, LibosBackend, PreparedRuntime } from "./backend.js";
import { createLimitCgroups, removeCgroupParents, removeCgroups, sweepEmptyCgroups } from "./cgroups.js";
import { LibosUnavailableError } from "./errors.js";
import { GUEST_PATH, POLICY_PATH, type RuntimeImage } from "./image.js";
import { runtimeMeasurement } from "./measure.js";
import { LiveInstances, spawnLauncher, withTimeout } from "./process.js";

const run = promisify(execFile);

export interface BwrapOptions {
  bwrap?: string;
  /** Scratch space of the backend (removed on close). */
  stateDir: string;
}

const FIXED = {
  unshare: "all",
  user: { uid: 65534, gid: 65534 },
  rootReadonly: true,
  writable: ["/tmp", "/task", "/app"],
  capabilities: [],
  env: ["PATH=/usr/bin:/bin"],
  args: [GUEST_PATH],
};

/**
 * bubblewrap backend, for hosts without gVisor: the same contract, but the payload shares the
 * host kernel (namespaces, no capabilities, read-only image root, tmpfs-only writes, no network).
 * Memory and processes are limited by cgroups when the node runs as root, otherwise by
 * RLIMIT_AS on the sandbox (which some runtimes, e.g. the JVM, tolerate badly).
 */
export class BwrapBackend implements LibosBackend {
  readonly kind = "bwrap" as const;
  readonly simulated = true;
  private readonly bwrap: string;
  private readonly live = new LiveInstances();

  constructor(private readonly options: BwrapOptions) {
    this.bwrap = options.bwrap ?? "/usr/bin/bwrap";
  }

  private args(root: string, policyPath: string, limits: InstanceLimits, argv: string[]): string[] {
    const size = String(limits.tmpfsBytes);
    return [
      "--unshare-all",
      "--die-with-parent",
      "--new-session",
      "--cap-drop",
      "ALL",
      "--clearenv",
      "--setenv",
      "PATH",
      "/usr/bin:/bin",
      "--uid",
      "65534",
      "--gid",
      "65534",
      "--hostname",
      "cloister",
      "--ro-bind",
      root,
      "/",
      "--proc",
      "/proc",
      "--dev",
      "/dev",
      "--size",
      size,
      "--tmpfs",
      "/tmp",
      "--size",
      size,
      "--tmpfs",
      "/task",
      "--size",
      size,
      "--tmpfs",
      "/app",
      "--ro-bind",
      policyPath,
      POLICY_PATH,
      "--chdir",
      "/",
      "--",
      ...argv,
    ];
  }

  async probe(image: RuntimeImage): Promise<void> {
    await sweepEmptyCgroups();
    if (!existsSync(this.bwrap))
      throw new LibosUnavailableError(`bubblewrap is not installed (${this.bwrap})`);
    await mkdir(this.options.stateDir, { recursive: true, mode: 0o700 });
    const policy = join(this.options.stateDir, "probe-policy.json");
    await writeFile(policy, "{}");
    try {
      const limits = { memoryBytes: 128 << 20, tmpfsBytes: 1 << 20, processes: 64 };
      const { stdout } = await run(this.bwrap, this.args(image.root, policy, limits, [GUEST_PATH, "probe"]), {
        timeout: 30_000,
      });
      if (!stdout.includes("probe ok"))
        throw new Error(`unexpected output ${JSON.stringify(stdout.slice(0, 200))}`);
    } catch (e) {
      throw new LibosUnavailableError(
        `bubblewrap cannot run here: ${(e as { stderr?: string }).stderr || (e as Error).message}`,
        { cause: e },
      );
    }
  }

  async prepare(image: RuntimeImage, policyPath: string): Promise<PreparedRuntime> {
    return {
      backend: this.kind,
      image,
      policyPath,
      measurement: runtimeMeasurement(this.kind, image, policyPath, FIXED),
    };
  }

  async launch(runtime: PreparedRuntime, limits: InstanceLimits, signal?: AbortSignal): Promise<Instance> {
    signal?.throwIfAborted();
    const id = `cl-${randomBytes(8).toString("hex")}`;
    const bwrapArgs = this.args(runtime.image.root, runtime.policyPath, limits, FIXED.args);
    const procs = await createLimitCgroups(id, limits.memoryBytes, limits.processes);
    // The shell joins the cgroups before it becomes bwrap, so nothing runs outside them.
    const { child, exited } = procs
      ? spawnLauncher("/bin/sh", [
          "-c",
          `for f in "$@"; do case "$f" in --) break;; esac; echo $$ > "$f" || exit 125; shift; done; shift; exec "$@"`,
          "sh",
          ...procs,
          "--",
          this.bwrap,
          ...bwrapArgs,
        ])
      : spawnLauncher("/usr/bin/prlimit", [`--as=${limits.memoryBytes}`, "--", this.bwrap, ...bwrapArgs]);
    return this.live.adopt(
      id,
      { child, exited },
      async () => {
        await withTimeout(exited, 3000);
        await removeCgroups(id);
      },
      signal,
    );
  }

  async close(): Promise<void> {
    await this.live.closeAll();
    await removeCgroupParents();
    await rm(this.options.stateDir, { recursive: true, force: true });
  }
}
