// The strictest policy of the one pool: every sandbox serves exactly one job and is then replaced.
// The isolation tests run under it, so each probe meets a sandbox no earlier job touched.
import {
  type RecyclingPoolOptions,
  type RecyclingRunOptions,
  RecyclingSandboxPool,
  type SandboxJob,
  type SandboxResult,
} from "../src/index.js";

export type SingleUseOptions = Omit<RecyclingPoolOptions, "spare" | "maxJobsPerWorker" | "maxWorkers"> & {
  /** Warm sandboxes kept ready (default 2). */
  size?: number;
};

export class SingleUsePool {
  private readonly pool: RecyclingSandboxPool;

  constructor({ size = 2, ...options }: SingleUseOptions) {
    this.pool = new RecyclingSandboxPool({
      ...options,
      spare: size,
      maxWorkers: Math.max(1, size),
      maxJobsPerWorker: 1,
    });
  }

  get limits() {
    return this.pool.limits;
  }

  start(): Promise<void> {
    return this.pool.start();
  }

  run(job: SandboxJob, options?: RecyclingRunOptions): Promise<SandboxResult> {
    return this.pool.run("single-use", job, options);
  }

  stats() {
    return this.pool.stats();
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}
