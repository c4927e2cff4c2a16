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

const LOCK_DIR = process.env.CLOISTER_SANDBOX_UID_LOCK_DIR ?? "/run/cloister/sandbox-uids";

let block: { first: number; lockFile: string } | null = null;
let next = 0;
const inUse = new Set<number>();

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

function tryClaim(file: string): boolean {
  try {
    writeFileSync(file, `${process.pid}\n`, { flag: "wx", mode: 0o644 });
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
  }
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

function claimBlock(): { first: number; lockFile: string } {
  try {
    mkdirSync(LOCK_DIR, { recursive: true, mode: 0o755 });
  } catch (e) {
    throw new SandboxStartError(`cannot create the sandbox uid lock directory ${LOCK_DIR}`, {
      cause: e,
    });
  }
  // Start at a pid-derived block so concurrent claimants rarely contend for the same file.
  const start = process.pid % UID_BLOCKS;
  for (let i = 0; i < UID_BLOCKS; i++) {
    const n = (start + i) % UID_BLOCKS;
    const lockFile = join(LOCK_DIR, `block-${n}`);
    if (tryClaim(lockFile)) {
      process.once("exit", () => {
        try {
          unlinkSync(lockFile);
        } catch {}
      });
      return { first: UID_BASE + n * UID_BLOCK_SIZE, lockFile };
    }
  }
  throw new SandboxStartError("every sandbox uid block on this host is taken");
}

/** A host uid no other sandbox on this host (in this process or any other) is using. */
export function allocateSandboxUid(): number {
  block ??= claimBlock();
  for (let i = 0; i < UID_BLOCK_SIZE; i++) {
    const uid = block.first + (next++ % UID_BLOCK_SIZE);
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
  return { first: block.first, size: UID_BLOCK_SIZE };
}
