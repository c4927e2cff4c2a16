// Readiness as named dependency checks (storage reachable, scheduler reachable, executors
// probed ...). Checks run on demand with a short cache so a burst of probes costs one round of
// checks, and each has a deadline so a hung dependency reads as "not ready", never as a hung probe.
import { EventEmitter } from "node:events";

export type CheckFn = () => Promise<void>;

export interface CheckResult {
  name: string;
  ok: boolean;
  /** Why it failed (an error message; never request data or secrets). */
  error?: string;
  ms: number;
}

export interface HealthReport {
  ready: boolean;
  checks: CheckResult[];
}

export interface HealthStateOptions {
  cacheMs?: number;
  timeoutMs?: number;
}

export class HealthState extends EventEmitter {
  private readonly checks = new Map<string, CheckFn>();
  private readonly cacheMs: number;
  private readonly timeoutMs: number;
  private cached: { at: number; report: Promise<HealthReport> } | undefined;
  private last: boolean | undefined;
  private stopping = false;

  constructor(options: HealthStateOptions = {}) {
    super();
    this.cacheMs = options.cacheMs ?? 2000;
    this.timeoutMs = options.timeoutMs ?? 3000;
  }

  /** Adds (or replaces) a named dependency check. */
  addCheck(name: string, fn: CheckFn): void {
    this.checks.set(name, fn);
    this.cached = undefined;
  }

  /** From now on the service reports not ready (it is shutting down). */
  setStopping(): void {
    this.stopping = true;
    this.cached = undefined;
    this.publish(false);
  }

  private publish(ready: boolean): void {
    if (ready !== this.last) {
      this.last = ready;
      this.emit("change", ready);
    }
  }

  private async runOne(name: string, fn: CheckFn): Promise<CheckResult> {
    const t0 = performance.now();
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        fn(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`no answer within ${this.timeoutMs} ms`)),
            this.timeoutMs,
          );
        }),
      ]);
      return { name, ok: true, ms: Math.round(performance.now() - t0) };
    } catch (e) {
      const error = (e instanceof Error ? e.message : String(e)).slice(0, 300);
      return { name, ok: false, error, ms: Math.round(performance.now() - t0) };
    } finally {
      clearTimeout(timer);
    }
  }

  /** Runs every check (or returns the cached round). */
  report(): Promise<HealthReport> {
    const now = Date.now();
    if (this.cached && now - this.cached.at < this.cacheMs) return this.cached.report;
    const report = (async () => {
      const checks = await Promise.all([...this.checks].map(([n, f]) => this.runOne(n, f)));
      const ready = !this.stopping && checks.every((c) => c.ok);
      this.publish(ready);
      return { ready, checks };
    })();
    this.cached = { at: now, report };
    return report;
  }
}
