// Builds the command line that starts one sandboxed worker:
//   prlimit (RLIMIT_AS/CPU/NPROC) -> bwrap (namespaces, minimal read-only filesystem) -> node entry.js
import { execFileSync, spawnSync } from "node:child_process";
import { accessSync, constants, existsSync, realpathSync, statSync } from "node:fs";
import { dirname, isAbsolute, join } from "node:path";
import { SandboxUnavailableError } from "./errors.js";
import type { SandboxLimits } from "./types.js";

export const BWRAP_PATH = "/usr/bin/bwrap";
export const PRLIMIT_PATH = "/usr/bin/prlimit";

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
}

export function buildCommand(spec: CommandSpec): Command {
  const { limits } = spec;
  const as = limits.memoryBytes + (limits.runtimeReserveBytes || runtimeReserveFor(spec.nodePath));
  const prlimit = [`--as=${as}`, `--cpu=${limits.cpuSeconds}`, "--core=0"];
  if (spec.uid !== undefined) prlimit.push(`--nproc=${limits.maxProcesses}`);
  const bwrap = [
    "--unshare-all",
    "--die-with-parent",
    "--new-session",
    "--cap-drop",
    "ALL",
    "--clearenv",
    "--hostname",
    "sandbox",
    "--proc",
    "/proc",
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
  ];
  return {
    file: PRLIMIT_PATH,
    args: [
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
  };
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

/** Synchronous part of the availability check: the binaries exist and are executable. */
export function checkBinaries(nodePath: string, bwrapPath: string): void {
  for (const [path, pkg] of [
    [bwrapPath, "bubblewrap"],
    [PRLIMIT_PATH, "util-linux"],
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
