import { randomUUID } from "node:crypto";
import { mkdirSync, readFileSync, unlinkSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { isUuid } from "@cloister/core";

// An execution node keeps its executor ids across restarts: a node that comes back after a
// crash asks for work under the ids it held, and the scheduler at once re-queues what those ids
// had leased, instead of waiting out the node timeout. Several nodes may share a data directory,
// so each claims a "seat" (its own set of ids) with an exclusively created lock file naming host
// and pid; a seat whose owner is gone (same host, pid not alive) is taken over.

const MAX_SEATS = 256;
/** Seats this process holds (a second node in one process must not take over the first's). */
const held = new Set<string>();

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

const owner = () => `${hostname()} ${process.pid}`;

function tryClaim(lock: string): boolean {
  try {
    writeFileSync(lock, `${owner()}\n`, { flag: "wx", mode: 0o600 });
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
  }
  let text: string;
  try {
    text = readFileSync(lock, "utf8").trim();
  } catch {
    return false;
  }
  const [host, pidText] = text.split(" ");
  const pid = Number(pidText);
  // Another host's seat is never taken over: its pids mean nothing here. A lock naming this very
  // pid (and not held) is a previous incarnation's: pids repeat in containers.
  if (host !== hostname() || !Number.isSafeInteger(pid) || pid <= 0) return false;
  if (pid !== process.pid && alive(pid)) return false;
  try {
    unlinkSync(lock);
  } catch {
    return false;
  }
  return tryClaim(lock);
}

/** `slots` executor ids for this node, the same ones its predecessor on this seat used. */
export function claimExecutorIds(dir: string, slots: number): string[] {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  for (let seat = 0; seat < MAX_SEATS; seat++) {
    const lock = join(dir, `seat-${seat}.lock`);
    if (held.has(lock) || !tryClaim(lock)) continue;
    held.add(lock);
    process.once("exit", () => {
      try {
        unlinkSync(lock);
      } catch {}
    });
    const file = join(dir, `seat-${seat}.json`);
    let ids: string[] = [];
    try {
      const stored = JSON.parse(readFileSync(file, "utf8")) as unknown;
      if (Array.isArray(stored)) ids = stored.filter((x): x is string => typeof x === "string" && isUuid(x));
    } catch {
      // a new seat
    }
    if (ids.length < slots) {
      ids = [...ids, ...Array.from({ length: slots - ids.length }, () => randomUUID())];
      writeFileSync(file, JSON.stringify(ids), { mode: 0o600 });
    }
    return ids.slice(0, slots);
  }
  // Every seat taken (or unclaimable): fresh ids work too; only a crash recovers more slowly.
  return Array.from({ length: slots }, () => randomUUID());
}
