import type { Logger } from "@cloister/core";
import type { AuditEntry } from "@cloister/model";

export type { AuditEntry };

/**
 * Audit entries are buffered and shipped to management in batches. The
 * legacy period is 30 s; we ship every `intervalMs` (default 1 s) or at `maxBatch` entries, so
 * QueryAuditLogs sees an action almost at once, and flush on shutdown so a clean stop loses none.
 */
export class AuditBuffer {
  private entries: AuditEntry[] = [];
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();

  constructor(
    private readonly ship: (entries: AuditEntry[]) => Promise<void>,
    private readonly log: Logger,
    private readonly intervalMs = 1000,
    private readonly maxBatch = 500,
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.flush(), this.intervalMs);
    this.timer.unref();
  }

  record(entry: AuditEntry): void {
    this.entries.push(entry);
    if (this.entries.length >= this.maxBatch) void this.flush();
  }

  flush(): Promise<void> {
    this.flushing = this.flushing.then(async () => {
      if (this.entries.length === 0) return;
      const batch = this.entries;
      this.entries = [];
      try {
        await this.ship(batch);
      } catch (e) {
        // Keep them for the next attempt, bounded so an unreachable management cannot exhaust memory.
        this.entries = [...batch, ...this.entries].slice(-10 * this.maxBatch);
        this.log.warn({ err: e, pending: this.entries.length }, "could not ship audit entries; will retry");
      }
    });
    return this.flushing;
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.flush();
  }
}

/** A peer address as the 16 bytes of an IPv6 address; IPv4 becomes IPv4-compatible `::a.b.c.d`. */
export function ipBytes(address: string | undefined): Buffer {
  const out = Buffer.alloc(16);
  if (!address) return out;
  const v4 = address.match(/(?:^|:)(\d+)\.(\d+)\.(\d+)\.(\d+)$/);
  if (v4) {
    for (let i = 0; i < 4; i++) out[12 + i] = Number(v4[i + 1]);
    return out;
  }
  const [head = "", tail = ""] = address.split("::");
  const h = head ? head.split(":") : [];
  const t = tail ? tail.split(":") : [];
  const groups = [...h, ...Array(Math.max(0, 8 - h.length - t.length)).fill("0"), ...t];
  for (const [i, g] of groups.slice(0, 8).entries())
    out.writeUInt16BE(Number.parseInt(g || "0", 16) & 0xffff, i * 2);
  return out;
}
