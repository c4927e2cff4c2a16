import {
  GuestSession,
  type Instance,
  type InstanceLimits,
  type LibosBackend,
  type SessionOptions,
} from "@cloister/libos";

/** A booted, attested instance waiting for its one task. */
export interface ReadyInstance {
  instance: Instance;
  session: GuestSession;
}

/** Boots one instance: launch, then attest it over its stdio. Kills it on any failure. */
export async function bootInstance(
  backend: LibosBackend,
  options: SessionOptions,
  limits: InstanceLimits,
  signal?: AbortSignal,
): Promise<ReadyInstance> {
  const instance = await backend.launch(options.runtime, limits, signal);
  try {
    const session = await GuestSession.open(instance, options);
    return { instance, session };
  } catch (e) {
    await instance.kill();
    throw e;
  }
}

/**
 * Warm, attested, single-use instances of one runtime. `take` hands an instance out for exactly
 * one task and starts a replacement at once; nothing taken ever comes back.
 */
export class InstancePool {
  private readonly ready: ReadyInstance[] = [];
  private filling = 0;
  private closed = false;
  private waiters: Array<(r: ReadyInstance | undefined) => void> = [];
  private failures = 0;
  private lastError: unknown;

  constructor(
    private readonly backend: LibosBackend,
    private readonly options: SessionOptions,
    readonly limits: InstanceLimits,
    private readonly size: number,
    private readonly onError: (e: unknown) => void,
    /** Seconds each warm instance took to boot and attest (for the refill-time metric). */
    private readonly onBooted?: (seconds: number) => void,
  ) {}

  start(): void {
    this.fill();
  }

  get idle(): number {
    return this.ready.length;
  }

  /** Instances booting to refill the pool. */
  get starting(): number {
    return this.filling;
  }

  private fill(): void {
    while (!this.closed && this.ready.length + this.filling < this.size && this.failures < 5) {
      this.filling++;
      const bootedFrom = performance.now();
      bootInstance(this.backend, this.options, this.limits)
        .then((r) => {
          this.failures = 0;
          this.onBooted?.((performance.now() - bootedFrom) / 1000);
          if (this.closed) return void r.instance.kill();
          // An instance that dies while idle is dropped, never handed out.
          r.instance.exited.then(() => {
            const i = this.ready.indexOf(r);
            if (i >= 0) this.ready.splice(i, 1);
          });
          const w = this.waiters.shift();
          if (w) w(r);
          else this.ready.push(r);
        })
        .catch((e) => {
          this.failures++;
          this.lastError = e;
          this.onError(e);
          // A pool that keeps failing tells its waiters instead of leaving them hanging.
          if (this.failures >= 5) for (const w of this.waiters.splice(0)) w(undefined);
        })
        .finally(() => {
          this.filling--;
          this.fill();
        });
    }
  }

  /** A ready instance now, or after the next boot; boots a cold one when the pool cannot fill. */
  async take(signal: AbortSignal): Promise<ReadyInstance> {
    const r = this.ready.shift();
    this.fill();
    if (r) return r;
    if (this.failures >= 5 || this.size === 0) {
      this.failures = 0;
      return bootInstance(this.backend, this.options, this.limits, signal);
    }
    return new Promise<ReadyInstance>((resolve, reject) => {
      const onAbort = () => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(signal.reason);
      };
      const waiter = (x: ReadyInstance | undefined) => {
        signal.removeEventListener("abort", onAbort);
        if (!x) return reject(this.closed ? new Error("pool closed") : this.lastError);
        if (signal.aborted) {
          void x.instance.kill();
          return reject(signal.reason);
        }
        resolve(x);
      };
      signal.addEventListener("abort", onAbort, { once: true });
      this.waiters.push(waiter);
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const w of this.waiters.splice(0)) w(undefined);
    await Promise.all(this.ready.splice(0).map((r) => r.instance.kill()));
  }
}
