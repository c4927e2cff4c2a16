import { mkdirSync, readFileSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { SandboxStartError } from "./errors.js";

// Sandboxes run under uids far above ordinary accounts. RLIMIT_NPROC counts per uid across the
// whole host, so two processes (two execution nodes, a test run beside `cloister up`) must
// never hand out the same uid: each process claims a block of the range host-wide with an
// exclusively created lock file naming its pid, and a block whose owner is gone is reclaimed.
const UID_BASE = 0x7000_0000;
export const UID_BLOCK_SIZE = 4096;
const UID_BLOCKS = 4096;
/** Lowest uid a configured range may start at: below are ordinary accounts and system ranges. */
const MIN_CONFIGURED_UID = 65_536;

const LOCK_DIR = process.env.CLOISTER_SANDBOX_UID_LOCK_DIR ?? "/run/cloister/sandbox-uids";

interface Block {
  first: number;
  size: number;
  lockFile: string;
}

let block: Block | null = null;
let configured: { first: number; count: number } | null = null;
let next = 0;
const inUse = new Set<number>();

/**
 * Uses the host uids [first, first + count) for this process's sandboxes instead of a block of
 * the shared range. For hosts where processes do not share the lock directory (containers with
 * their own /run): give every node on a host its own range. The range is still locked, so a
 * second process configured with the same one refuses to start rather than share it. Must be
 * called before the first sandbox starts.
 */
export function configureSandboxUids(range: { first: number; count: number }): void {
  const { first, count } = range;
  if (block) {
    if (configured && configured.first === first && configured.count === count) return;
    throw new SandboxStartError(
      "sandbox uids are already in use: configure the range before the first sandbox",
    );
  }
  if (
    !Number.isSafeInteger(first) ||
    !Number.isSafeInteger(count) ||
    count < 16 ||
    first < MIN_CONFIGURED_UID
  ) {
    throw new RangeError(
      `sandbox uid range must start at ${MIN_CONFIGURED_UID} or above and hold at least 16 uids`,
    );
  }
  // 0xffffffff is (uid_t)-1 and 0xfffffffe the overflow uid: neither may be handed out.
  if (first + count > 0xffff_fffe) throw new RangeError("sandbox uid range goes past the largest uid");
  const sharedEnd = UID_BASE + UID_BLOCKS * UID_BLOCK_SIZE;
  if (first < sharedEnd && first + count > UID_BASE) {
    throw new RangeError(
      `sandbox uid range overlaps the shared range ${UID_BASE}..${sharedEnd - 1} other nodes claim blocks of`,
    );
  }
  configured = { first, count };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

function tryClaim(file: string, reclaim = true): boolean {
  try {
    writeFileSync(file, `${process.pid}\n`, { flag: "wx", mode: 0o644 });
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
  }
  if (!reclaim) return false;
  let owner = Number.NaN;
  try {
    owner = Number.parseInt(readFileSync(file, "utf8"), 10);
  } catch {
    return false;
  }
  if (Number.isInteger(owner) && owner > 0 && (owner === process.pid || alive(owner))) return false;
  try {
    unlinkSync(file);
  } catch {
    return false;
  }
  return tryClaim(file);
}

function releaseOnExit(lockFile: string): void {
  process.once("exit", () => {
    try {
      unlinkSync(lockFile);
    } catch {}
  });
}

function claimBlock(): Block {
  try {
    mkdirSync(LOCK_DIR, { recursive: true, mode: 0o755 });
  } catch (e) {
    throw new SandboxStartError(`cannot create the sandbox uid lock directory ${LOCK_DIR}`, {
      cause: e,
    });
  }
  if (configured) {
    const { first, count } = configured;
    const lockFile = join(LOCK_DIR, `range-${first}-${count}`);
    if (!tryClaim(lockFile)) {
      throw new SandboxStartError(
        `sandbox uid range ${first}+${count} is in use by another process on this host`,
      );
    }
    releaseOnExit(lockFile);
    return { first, size: count, lockFile };
  }
  // Start at a pid-derived block so concurrent claimants rarely contend for the same file.
  // A never-used block first: a process killed by a signal leaves its lock file behind, and
  // the last processes of its sandboxes may still be dying under those uids (still counted by
  // RLIMIT_NPROC); its block is reclaimed only when no free one is left.
  const start = process.pid % UID_BLOCKS;
  for (const reclaim of [false, true]) {
    for (let i = 0; i < UID_BLOCKS; i++) {
      const n = (start + i) % UID_BLOCKS;
      const lockFile = join(LOCK_DIR, `block-${n}`);
      if (tryClaim(lockFile, reclaim)) {
        releaseOnExit(lockFile);
        return { first: UID_BASE + n * UID_BLOCK_SIZE, size: UID_BLOCK_SIZE, lockFile };
      }
    }
  }
  throw new SandboxStartError("every sandbox uid block on this host is taken");
}

/** A host uid no other sandbox on this host (in this process or any other) is using. */
export function allocateSandboxUid(): number {
  block ??= claimBlock();
  for (let i = 0; i < block.size; i++) {
    const uid = block.first + (next++ % block.size);
    if (!inUse.has(uid)) {
      inUse.add(uid);
      return uid;
    }
  }
  throw new SandboxStartError("no free sandbox uid in this process's block");
}

export function releaseSandboxUid(uid: number): void {
  inUse.delete(uid);
}

/** The first uid of this process's block (claims it if needed); for tests and diagnostics. */
export function sandboxUidBlock(): { first: number; size: number } {
  block ??= claimBlock();
  return { first: block.first, size: block.size };
}
