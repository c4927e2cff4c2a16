// Task log latency: how long after a function (JavaScript `console.log`, Python `print`) writes a
// line a participant following the task's log (`StreamTaskLog`, follow) receives it. Each line
// carries the time it was written.
import { client, startPlatform } from "@cloister/tests";
import { percentile } from "./stats.js";

const SOURCE = `function entrypoint(argv) {
  for (var i = 0; i < 5; i++) {
    console.log(String(Date.now()));
    var until = Date.now() + 400;
    while (Date.now() < until) {}
  }
  return "ok";
}`;

const PYTHON_SOURCE = `import time
def entrypoint(argv):
    for i in range(5):
        print(int(time.time() * 1000))
        time.sleep(0.4)
    return "ok"
`;

const FUNCTIONS = {
  javascript: { executorType: "javascript", executor: "javascript", source: SOURCE },
  python: { executorType: "python", executor: "mesapy", source: PYTHON_SOURCE },
} as const;

export async function benchTaskLog(
  runs = 4,
  language: keyof typeof FUNCTIONS = "javascript",
): Promise<Record<string, number>> {
  const fn = FUNCTIONS[language];
  const platform = await startPlatform();
  const c = client(platform);
  try {
    await c.login("admin", "teaclave");
    const functionId = await c.registerFunction({
      name: "log-latency",
      executorType: fn.executorType,
      payload: Buffer.from(fn.source),
      arguments: [{ key: "save_log", defaultValue: "true", allowOverwrite: true }],
    });
    const latencies: number[] = [];
    for (let run = 0; run < runs; run++) {
      const taskId = await c.createTask({
        functionId,
        executor: fn.executor,
        arguments: { save_log: "true" },
      });
      await c.invokeTask(taskId);
      for await (const chunk of c.taskLog(taskId, { follow: true }))
        for (const line of chunk.lines) latencies.push(Date.now() - Number(line));
    }
    return {
      "lines followed": latencies.length,
      "line written → seen by a follower, p50 (ms)": percentile(latencies, 50),
      "line written → seen by a follower, p90 (ms)": percentile(latencies, 90),
      "line written → seen by a follower, max (ms)": Math.max(...latencies),
    };
  } finally {
    c.close();
    await platform.stop();
  }
}
