// The sandboxed CPython zygotes: which interpreter, which files it sees, how much memory.
import { createHash } from "node:crypto";
import { existsSync, readFileSync, realpathSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { DEFAULT_LIMITS } from "@cloister/runtime";
import { RecyclingSandboxPool, type SandboxLimits, SandboxUnavailableError } from "@cloister/sandbox";
import { ZYGOTE_SHA256 } from "./zygote-digests.js";

export const ZYGOTE_DIR = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "zygote");
export const DEFAULT_PYTHON = "/usr/bin/python3";
/** Address space of the zygote itself (CPython with numpy and OpenBLAS), under RLIMIT_AS. */
const ZYGOTE_RESERVE_BYTES = 1024 * 1024 * 1024;
/**
 * Interpreter flags: no environment variables (-E; the sandbox has none anyway), no user site
 * (-s), no `site` (-S: no .pth file runs; the zygote adds Debian's dist-packages itself), no
 * bytecode written (-B: the root is read-only; Debian's precompiled .pyc files are still read).
 */
const PYTHON_FLAGS = ["-E", "-s", "-S", "-B"];

export interface ZygotePoolOptions {
  /** Sandboxed zygotes alive at once, i.e. tasks running at once (default 2). */
  poolSize?: number;
  /** Warm zygotes not yet bound to a function (default 1). */
  spare?: number;
  /** Tasks one zygote serves before it is replaced (default 1000). */
  maxJobsPerWorker?: number;
  /** Sandbox limits; memoryBytes (the task's memory) defaults to DEFAULT_LIMITS.memoryBytes. */
  limits?: Partial<SandboxLimits>;
  /** Modules every zygote imports once, before forking (default: numpy). */
  preload?: string[];
  /** CPython binary (default /usr/bin/python3, Debian's, with python3-numpy beside it). */
  pythonPath?: string;
  /** Deadline for a zygote to start (default 30 s). */
  startTimeoutMs?: number;
}

/**
 * What the sandbox binds read-only besides the interpreter (bound by @cloister/sandbox with the
 * libraries `ldd` lists): its standard library, Debian's Python packages (numpy, scipy, pandas),
 * the shared-library directory their extensions link against (the BLAS is an alternatives
 * symlink, found through ld.so.cache), and time-zone data for pandas. No shell or other program,
 * no other /etc file, no home, repository or data directory.
 */
function systemPaths(python: string): string[] {
  const real = realpathSync(python);
  const version = /python(3\.\d+)$/.exec(real)?.[1];
  const paths = [
    ...(version ? [`/usr/lib/python${version}`] : []),
    "/usr/lib/python3/dist-packages",
    "/etc/ld.so.cache",
    "/etc/alternatives",
    "/usr/share/zoneinfo",
  ];
  // The multiarch library directory, under both names Debian's linker cache uses.
  for (const dir of ["/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu"]) {
    if (!existsSync(dir)) continue;
    paths.push(dir);
    const short = dir.replace(/^\/usr/, "");
    if (existsSync(short) && realpathSync(short) === realpathSync(dir)) paths.push(short);
  }
  return paths.filter((p) => existsSync(p));
}

/** Refuses zygote files other than the ones whose digests the measured code carries. */
export function checkZygoteFiles(dir = ZYGOTE_DIR): void {
  for (const [name, digest] of Object.entries(ZYGOTE_SHA256)) {
    let actual: string;
    try {
      actual = createHash("sha256")
        .update(readFileSync(join(dir, name)))
        .digest("hex");
    } catch (e) {
      throw new SandboxUnavailableError(`the Python zygote's ${name} cannot be read`, { cause: e });
    }
    if (actual !== digest) {
      throw new SandboxUnavailableError(
        `the Python zygote's ${name} is not the one this build was made with`,
      );
    }
  }
}

/**
 * A pool of sandboxed zygotes running `script` (the product's zygote/zygote.py; tests pass a
 * stand-in) with the interpreter and files above. Throws SandboxUnavailableError (no python3,
 * no bubblewrap).
 */
export function createZygotePool(
  options: ZygotePoolOptions & { memoryBytes: number },
  script = join(ZYGOTE_DIR, "zygote.py"),
): RecyclingSandboxPool {
  const python = options.pythonPath ?? DEFAULT_PYTHON;
  // task.py is the product's whatever the script (a stand-in imports it or not).
  checkZygoteFiles();
  const scriptDir = dirname(script);
  return new RecyclingSandboxPool({
    program: { path: python, args: [...PYTHON_FLAGS, script] },
    maxWorkers: options.poolSize ?? 2,
    spare: options.spare ?? 1,
    ...(options.maxJobsPerWorker ? { maxJobsPerWorker: options.maxJobsPerWorker } : {}),
    limits: {
      ...options.limits,
      memoryBytes: options.memoryBytes,
      runtimeReserveBytes: ZYGOTE_RESERVE_BYTES,
    },
    // The zygote imports task.py from its own directory, so that directory is bound as well.
    readOnlyPaths: [...new Set([scriptDir, ZYGOTE_DIR]), ...systemPaths(python)],
    workerOptions: { preload: options.preload ?? ["numpy"] },
    startTimeoutMs: options.startTimeoutMs ?? 30_000,
  });
}

export const defaultMemoryBytes = (limits?: Partial<SandboxLimits>): number =>
  limits?.memoryBytes ?? DEFAULT_LIMITS.memoryBytes;
