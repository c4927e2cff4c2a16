// Builds the command line that starts one sandboxed worker:
//   bash (closes inherited descriptors) -> prlimit (RLIMIT_AS/CPU/NPROC)
//     -> bwrap (namespaces, minimal read-only filesystem, seccomp) -> node worker/reusable-entry.js
import { type ChildProcess, execFileSync, spawn, spawnSync } from "node:child_process";
import { accessSync, constants, existsSync, readFileSync, realpathSync, statSync } from "node:fs";
import { basename, dirname, isAbsolute, join } from "node:path";
import { SandboxUnavailableError } from "./errors.js";
import { seccompProgram } from "./seccomp.js";
import type { SandboxLimits } from "./types.js";

export const BWRAP_PATH = "/usr/bin/bwrap";
export const PRLIMIT_PATH = "/usr/bin/prlimit";
export const BASH_PATH = "/bin/bash";

/** The host channel (a socketpair) inside the sandbox. */
export const CHANNEL_FD = 3;
/** The seccomp program for bwrap; bwrap reads it and closes it before the worker starts. */
export const SECCOMP_FD = 4;

/**
 * The first step of every sandbox. Node marks only the descriptors it opens itself close-on-exec;
 * whatever the host process inherited (a shell's `exec 200<dir`, a harness's pipe) would
 * otherwise pass through prlimit, bwrap and node into the sandbox, where a directory descriptor
 * is a way back to the host's filesystem. Neither Node's spawn nor bwrap can close them, so this
 * closes every descriptor above the ones handed over and only then executes prlimit. bash is
 * Essential in Debian; the script is fixed text and the command follows as separate arguments,
 * so nothing is ever interpreted by the shell. Without /proc it cannot know what is open and
 * refuses to start rather than guessing.
 */
const CLOSE_INHERITED_FDS = [
  "[ -d /proc/self/fd ] || { echo 'cloister sandbox: /proc/self/fd is unavailable, cannot close inherited descriptors' >&2; exit 125; }",
  "for f in /proc/self/fd/*; do",
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a shell parameter expansion
  "  n=${f##*/}",
  `  if [[ $n =~ ^[0-9]+$ ]] && (( n > ${SECCOMP_FD} )); then exec {n}>&-; fi`,
  "done",
  'exec "$@"',
].join("\n");

/** Flags for the node process inside the sandbox. */
export const NODE_SANDBOX_FLAGS = [
  // V8 otherwise reserves 8+ GiB of guard regions per wasm memory, which no RLIMIT_AS would
  // allow; with explicit bounds checks the address-space limit becomes a real memory limit.
  "--disable-wasm-trap-handler",
  // No native addons: nothing inside may load arbitrary machine code.
  "--no-addons",
];

export interface CommandSpec {
  nodePath: string;
  bwrapPath: string;
  /** Read-only paths bound at the same path inside (files or directories). */
  readOnlyPaths: string[];
  limits: SandboxLimits;
  /** Host uid/gid to run as (a per-sandbox uid when the host is root), or undefined to inherit. */
  uid: number | undefined;
  nodeArgs: string[];
  entry: string;
}

export interface Command {
  file: string;
  args: string[];
  uid: number | undefined;
  /** The BPF program to hand to bwrap on SECCOMP_FD. */
  seccomp: Buffer;
}

export function buildCommand(spec: CommandSpec): Command {
  const { limits } = spec;
  const as = limits.memoryBytes + (limits.runtimeReserveBytes || runtimeReserveFor(spec.nodePath));
  const prlimit = [`--as=${as}`, `--cpu=${limits.cpuSeconds}`, "--core=0"];
  if (spec.uid !== undefined) prlimit.push(`--nproc=${limits.maxProcesses}`);
  const bwrap = [
    "--unshare-all",
    // Explicit, because --disable-userns needs it: no nested user namespace inside the sandbox.
    "--unshare-user",
    "--disable-userns",
    "--die-with-parent",
    "--new-session",
    "--cap-drop",
    "ALL",
    "--clearenv",
    "--hostname",
    "sandbox",
    // No /proc: its mountinfo and mounts files name every bound host path (a bind mount's root
    // is its source path, whatever the mount point), and /proc/<pid>/fd, /proc/1/environ and
    // /proc/self/exe are ways back to the host. Node runs without it (process.memoryUsage() and
    // os.cpus() then report nothing).
    "--dev",
    "/dev",
    "--size",
    String(limits.tmpBytes),
    "--tmpfs",
    "/tmp",
    // After /tmp, so a bound path under the host's /tmp is not hidden by the tmpfs.
    ...bindArgs([spec.nodePath, ...runtimeLibraries(spec.nodePath), ...spec.readOnlyPaths]),
    "--remount-ro",
    "/dev",
    "--remount-ro",
    "/",
    "--chdir",
    "/tmp",
    "--seccomp",
    String(SECCOMP_FD),
  ];
  return {
    file: BASH_PATH,
    args: [
      "--norc",
      "--noprofile",
      "-c",
      CLOSE_INHERITED_FDS,
      "cloister-sandbox",
      PRLIMIT_PATH,
      ...prlimit,
      "--",
      spec.bwrapPath,
      ...bwrap,
      "--",
      spec.nodePath,
      ...NODE_SANDBOX_FLAGS,
      ...spec.nodeArgs,
      spec.entry,
    ],
    uid: spec.uid,
    seccomp: seccompProgram(),
  };
}

/**
 * Starts a built command. The child gets exactly: 0 /dev/null, 1 and 2 pipes (1 ignored when
 * `stdout` is false), 3 the channel, 4 the seccomp program — the wrapper closes anything else it
 * inherited. Fd 3 is always a fresh pipe, so no stray descriptor can sit at that number either.
 */
export function spawnCommand(cmd: Command, opts: { stdout: boolean } = { stdout: true }): ChildProcess {
  const child = spawn(cmd.file, cmd.args, {
    stdio: ["ignore", opts.stdout ? "pipe" : "ignore", "pipe", "pipe", "pipe"],
    env: {},
    // Own process group, so a kill reaches prlimit/bwrap even mid-exec.
    detached: true,
    ...(cmd.uid !== undefined ? { uid: cmd.uid, gid: cmd.uid } : {}),
  });
  const seccomp = child.stdio[SECCOMP_FD] as (NodeJS.WritableStream & { destroy(): void }) | null;
  if (seccomp) {
    // bwrap reads the program to EOF; a sandbox that dies first just closes the pipe.
    seccomp.on("error", () => {});
    seccomp.end(cmd.seccomp);
  }
  return child;
}

function bindArgs(paths: string[]): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const p of paths) {
    if (seen.has(p)) continue;
    seen.add(p);
    // bwrap follows a symlinked source, so bind its target at the path the worker will use.
    out.push("--ro-bind", realpathSync(p), p);
  }
  return out;
}

const libraryCache = new Map<string, string[]>();

/** Shared libraries the node binary links against (ldd), so only those are bound. */
export function runtimeLibraries(nodePath: string): string[] {
  const cached = libraryCache.get(nodePath);
  if (cached) return cached;
  let text: string;
  try {
    text = execFileSync("ldd", [nodePath], { encoding: "utf8", env: {} });
  } catch (e) {
    const out = String((e as { stdout?: unknown }).stdout ?? "");
    if (out.includes("not a dynamic executable")) text = "";
    else
      throw new SandboxUnavailableError(`cannot list the libraries of ${nodePath} (ldd failed)`, {
        cause: e,
      });
  }
  const libs: string[] = [];
  for (const line of text.split("\n")) {
    const m = /(?:=>\s*)?(\/\S+)\s+\(0x[0-9a-f]+\)/.exec(line);
    if (m?.[1]) libs.push(m[1]);
  }
  libraryCache.set(nodePath, libs);
  return libs;
}

/** The nearest package.json above a file: node needs it inside the sandbox to load .js as ESM. */
export function nearestPackageJson(file: string): string | undefined {
  let dir = dirname(file);
  for (;;) {
    const candidate = join(dir, "package.json");
    if (existsSync(candidate)) return candidate;
    const parent = dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

/** `javascript` for a worker of @cloister/executor-javascript; a program's file name otherwise. */
export function poolNameOf(file: string): string {
  const pkg = nearestPackageJson(file);
  if (pkg) {
    try {
      const name = String((JSON.parse(readFileSync(pkg, "utf8")) as { name?: unknown }).name ?? "");
      if (name) return name.replace(/^@cloister\/(executor-)?/, "");
    } catch {
      // fall through to the file name
    }
  }
  return basename(file);
}

/** Synchronous part of the availability check: the binaries exist and are executable. */
export function checkBinaries(nodePath: string, bwrapPath: string): void {
  for (const [path, pkg] of [
    [bwrapPath, "bubblewrap"],
    [PRLIMIT_PATH, "util-linux"],
    [BASH_PATH, "bash"],
  ] as const) {
    try {
      accessSync(path, constants.X_OK);
    } catch {
      throw new SandboxUnavailableError(
        `${path} is missing or not executable (install the Debian package ${pkg})`,
      );
    }
  }
  if (!isAbsolute(nodePath) || !statSync(nodePath, { throwIfNoEntry: false })?.isFile()) {
    throw new SandboxUnavailableError(`node binary ${nodePath} not found`);
  }
}

const reserves = new Map<string, number>();
/** Head room over the measured baseline: V8's own heap, code and thread growth while running. */
const RUNTIME_MARGIN_BYTES = 384 * 1024 * 1024;

/**
 * The address space an idle sandboxed Node reserves (VmSize with the sandbox's flags), measured
 * once per node binary, plus a margin. RLIMIT_AS counts reservations, not use, and Node 24
 * reserves far more than Node 20, so a fixed figure would either starve newer runtimes or
 * hand older ones spare room for user data.
 */
export function runtimeReserveFor(nodePath: string): number {
  let reserve = reserves.get(nodePath);
  if (reserve === undefined) {
    const probe = spawnSync(
      nodePath,
      [
        ...NODE_SANDBOX_FLAGS,
        "-e",
        "process.stdout.write(/VmSize:\\s+(\\d+)/.exec(require('fs').readFileSync('/proc/self/status','utf8'))[1])",
      ],
      { encoding: "utf8", env: {}, timeout: 10_000 },
    );
    const kib = Number.parseInt(probe.stdout ?? "", 10);
    // Without /proc (not Linux) fall back to what Node 20 needed.
    reserve = (Number.isFinite(kib) && kib > 0 ? kib * 1024 : 768 * 1024 * 1024) + RUNTIME_MARGIN_BYTES;
    reserves.set(nodePath, reserve);
  }
  return reserve;
}
