import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import type { Instance, InstanceLimits, LibosBackend, PreparedRuntime } from "./backend.js";
import { CGROUP_PARENT, removeCgroupParents, removeCgroups, sweepEmptyCgroups } from "./cgroups.js";
import { LibosUnavailableError } from "./errors.js";
import { GUEST_PATH, POLICY_PATH, type RuntimeImage } from "./image.js";
import { runtimeMeasurement } from "./measure.js";
import { LiveInstances, spawnLauncher, withTimeout } from "./process.js";

const run = promisify(execFile);

export interface GvisorOptions {
  /** runsc binary (Debian: /usr/bin/runsc). */
  runsc?: string;
  /** Where runsc keeps container state and bundles live (removed on close). */
  stateDir: string;
  /** gVisor platform: `systrap` (newer runsc) or `ptrace` (Debian 12's runsc). Default: runsc's own. */
  platform?: string;
}

/** The sandbox configuration every instance shares: part of the measurement. */
const FIXED = {
  user: { uid: 65534, gid: 65534 },
  rootReadonly: true,
  network: "none",
  namespaces: ["pid", "network", "ipc", "uts", "mount"],
  writable: ["/tmp", "/task", "/app"],
  capabilities: [],
  noNewPrivileges: true,
  env: ["PATH=/usr/bin:/bin"],
  args: [GUEST_PATH],
};

/**
 * gVisor backend: each instance is `runsc run` of an OCI bundle whose root is the runtime image,
 * read-only, with tmpfs-only writable space, no network (`--network=none`, own network
 * namespace), uid 65534 without capabilities, and memory/pids limits in a cgroup under
 * `cloister-libos/`. Never `runsc do`, which exposes the host's root.
 */
export class GvisorBackend implements LibosBackend {
  readonly kind = "gvisor" as const;
  readonly simulated = true;
  private readonly runsc: string;
  private readonly live = new LiveInstances();

  constructor(private readonly options: GvisorOptions) {
    this.runsc = options.runsc ?? "/usr/bin/runsc";
  }

  private get root(): string {
    return join(this.options.stateDir, "runsc");
  }

  private globalArgs(): string[] {
    const a = ["--root", this.root, "--network=none"];
    if (this.options.platform) a.push(`--platform=${this.options.platform}`);
    return a;
  }

  async probe(image: RuntimeImage): Promise<void> {
    await sweepEmptyCgroups();
    if (!existsSync(this.runsc))
      throw new LibosUnavailableError(`gVisor is not installed (${this.runsc}; apt-get install runsc)`);
    const policy = join(this.options.stateDir, "probe-policy.json");
    await mkdir(this.options.stateDir, { recursive: true, mode: 0o700 });
    await writeFile(policy, "{}");
    const id = `probe-${randomBytes(6).toString("hex")}`;
    const bundle = await this.writeBundle(
      id,
      image.root,
      policy,
      { memoryBytes: 128 << 20, tmpfsBytes: 1 << 20, processes: 64 },
      [GUEST_PATH, "probe"],
    );
    try {
      const { stdout } = await run(this.runsc, [...this.globalArgs(), "run", "--bundle", bundle, id], {
        timeout: 30_000,
      });
      if (!stdout.includes("probe ok"))
        throw new Error(`unexpected output ${JSON.stringify(stdout.slice(0, 200))}`);
    } catch (e) {
      throw new LibosUnavailableError(
        `gVisor cannot run here: ${(e as { stderr?: string }).stderr || (e as Error).message}`,
        { cause: e },
      );
    } finally {
      await this.cleanup(id);
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

  private async writeBundle(
    id: string,
    root: string,
    policyPath: string,
    limits: InstanceLimits,
    args: string[],
  ): Promise<string> {
    const bundle = join(this.options.stateDir, "bundles", id);
    await mkdir(bundle, { recursive: true, mode: 0o700 });
    const tmpfs = (destination: string) => ({
      destination,
      type: "tmpfs",
      source: "tmpfs",
      options: ["nosuid", "nodev", "mode=1777", `size=${Math.ceil(limits.tmpfsBytes / 1024)}k`],
    });
    const config = {
      ociVersion: "1.0.2",
      process: {
        terminal: false,
        user: FIXED.user,
        args,
        env: FIXED.env,
        cwd: "/",
        noNewPrivileges: true,
        capabilities: { bounding: [], effective: [], permitted: [], inheritable: [], ambient: [] },
        rlimits: [{ type: "RLIMIT_NOFILE", hard: 1024, soft: 1024 }],
      },
      root: { path: root, readonly: true },
      hostname: "cloister",
      mounts: [
        { destination: "/proc", type: "proc", source: "proc" },
        tmpfs("/tmp"),
        tmpfs("/task"),
        tmpfs("/app"),
        { destination: POLICY_PATH, type: "bind", source: policyPath, options: ["rbind", "ro"] },
      ],
      linux: {
        namespaces: FIXED.namespaces.map((type) => ({ type })),
        resources: { memory: { limit: limits.memoryBytes }, pids: { limit: limits.processes } },
        cgroupsPath: `/${CGROUP_PARENT}/${id}`,
      },
    };
    await writeFile(join(bundle, "config.json"), JSON.stringify(config), { mode: 0o600 });
    return bundle;
  }

  async launch(runtime: PreparedRuntime, limits: InstanceLimits, signal?: AbortSignal): Promise<Instance> {
    signal?.throwIfAborted();
    const id = `cl-${randomBytes(8).toString("hex")}`;
    const bundle = await this.writeBundle(id, runtime.image.root, runtime.policyPath, limits, FIXED.args);
    // stdio stays pipes: the agent's TLS runs over them (a log file would lose output).
    const { child, exited } = spawnLauncher(this.runsc, [
      ...this.globalArgs(),
      "run",
      "--bundle",
      bundle,
      id,
    ]);
    // runsc kill stops the sandbox while the group kill stops the launcher; then the state,
    // bundle and cgroups go. `runsc wait` is avoided (it lags seconds behind).
    const viaRunsc = () =>
      run(this.runsc, [...this.globalArgs(), "kill", "--all", id, "KILL"], { timeout: 5000 }).catch(
        () => undefined,
      );
    return this.live.adopt(
      id,
      { child, exited },
      async () => {
        const killed = viaRunsc();
        await withTimeout(exited, 3000);
        await killed;
        await this.cleanup(id);
      },
      signal,
    );
  }

  private async cleanup(id: string): Promise<void> {
    await run(this.runsc, [...this.globalArgs(), "delete", "--force", id], { timeout: 10_000 }).catch(
      () => undefined,
    );
    await rm(join(this.options.stateDir, "bundles", id), { recursive: true, force: true });
    await removeCgroups(id);
  }

  /** Containers runsc still lists under this backend's state (tests check none is left). */
  async listContainers(): Promise<string[]> {
    if (!existsSync(this.root)) return [];
    const { stdout } = await run(this.runsc, [...this.globalArgs(), "list", "--quiet"]).catch(() => ({
      stdout: "",
    }));
    return stdout.split("\n").filter(Boolean);
  }

  async close(): Promise<void> {
    await this.live.closeAll();
    await removeCgroupParents();
    await rm(this.options.stateDir, { recursive: true, force: true });
  }
}
