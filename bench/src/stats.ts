/** Percentile of a sample (nearest-rank). */
export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i] ?? Number.NaN;
}

export const ms = (ns: bigint | number) => Number(ns) / 1e6;

export function fmt(n: number, digits = 2): string {
  return Number.isFinite(n) ? n.toFixed(digits) : String(n);
}

/** Runs per second of `total` runs of `run`, `concurrency` of them at a time. */
export async function runsPerSecond(
  total: number,
  concurrency: number,
  run: () => Promise<unknown>,
): Promise<number> {
  const start = process.hrtime.bigint();
  let started = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (started < total) {
        started++;
        await run();
      }
    }),
  );
  return total / (Number(process.hrtime.bigint() - start) / 1e9);
}
