import { client, ECHO_FUNCTION, platformConfig, startPlatform } from "@cloister/tests";
import { percentile } from "./stats.js";

/**
 * builtin-echo through the full path (frontend → authentication → access control → management
 * → storage → scheduler → execution and back): latency from InvokeTask to observing Finished,
 * and tasks per second with several clients at once.
 */
export async function benchPlatform(
  sequential = 100,
  total = 200,
  concurrency = 8,
): Promise<Record<string, number>> {
  // Only the builtin executor: sandbox pools filling in the background would share the two
  // cores with the path being measured (the executors have their own benchmarks).
  const platform = await startPlatform(
    await platformConfig(undefined, '[execution]\nexecutors = ["builtin"]\n'),
  );
  const c = client(platform);
  try {
    await c.login("admin", "teaclave");
    const functionId = await c.registerFunction(ECHO_FUNCTION);
    const one = async (): Promise<number> => {
      const taskId = await c.createTask({ functionId, arguments: { message: "bench" } });
      const t = process.hrtime.bigint();
      await c.invokeTask(taskId);
      await c.waitForTask(taskId);
      return Number(process.hrtime.bigint() - t) / 1e6;
    };
    for (let i = 0; i < 10; i++) await one();
    const samples: number[] = [];
    for (let i = 0; i < sequential; i++) samples.push(await one());
    const start = process.hrtime.bigint();
    let started = 0;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (started < total) {
          started++;
          await one();
        }
      }),
    );
    const secs = Number(process.hrtime.bigint() - start) / 1e9;
    return {
      "builtin-echo invoke→Finished p50 ms": percentile(samples, 50),
      "builtin-echo invoke→Finished p99 ms": percentile(samples, 99),
      [`builtin-echo tasks/s (${concurrency} clients, create+invoke+watch)`]: total / secs,
    };
  } finally {
    c.close();
    await platform.stop();
  }
}
