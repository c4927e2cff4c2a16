// `npm run bench`: every figure in one run, so ratios between them are meaningful on a noisy box.
import { benchBuiltin } from "./builtin.js";
import { benchGrpc } from "./grpc.js";
import { fmt } from "./stats.js";

type Bench = [name: string, run: () => Promise<Record<string, number | string>>];

/** Component benchmarks published by the packages themselves (optional: skipped if absent). */
async function component(specifier: string, fn: string, ...args: unknown[]): Promise<Record<string, number>> {
  const mod = (await import(specifier)) as Record<
    string,
    (...a: unknown[]) => Promise<Record<string, number>>
  >;
  return mod[fn]!(...args);
}

const benches: Bench[] = [
  ["gRPC round trip", () => benchGrpc()],
  [
    "external client (python grpc C-core)",
    async () => (await import("./external-client.js")).benchExternalClient(),
  ],
  ["platform (full path)", async () => (await import("./platform.js")).benchPlatform()],
  [
    "platform scale-out (1, 2, 4 execution nodes)",
    async () => (await import("./platform.js")).benchScaleOut(),
  ],
  ["storage", () => component("@cloister/storage/bench", "benchStorage")],
  [
    "records: codecs, 15 MiB payload (in process)",
    async () => (await import("./records.js")).benchRecordCodec(),
  ],
  [
    "records: 15 MiB payload through every hop",
    async () => (await import("./records.js")).benchRecordsPlatform(),
  ],
  ["evidence verification (offline, full)", async () => (await import("./evidence.js")).benchEvidence()],
  ["etcd: leader killed (3 members)", async () => (await import("./etcd-failover.js")).benchEtcdFailover()],
  ["file crypto (MiB/s)", () => component("@cloister/crypto/bench", "benchCrypto", 64)],
  ["executor: builtin (in process)", () => benchBuiltin()],
  ["executor: wasm (sandboxed)", () => component("@cloister/executor-wasm/bench", "benchWasm")],
  [
    "executor: javascript (sandboxed)",
    () => component("@cloister/executor-javascript/bench", "benchJavascript"),
  ],
  ["executor: python (sandboxed)", () => component("@cloister/executor-python/bench", "benchPython")],
  ["executor: libos (gVisor / bubblewrap instances)", async () => (await import("./libos.js")).benchLibos()],
  ["task log follow latency (javascript)", async () => (await import("./task-log.js")).benchTaskLog()],
  ["task log follow latency (python)", async () => (await import("./task-log.js")).benchTaskLog(4, "python")],
  [
    "executors through the platform (invoke → Finished, beside builtin-echo)",
    async () => (await import("./executors-platform.js")).benchExecutorsPlatform(),
  ],
];

const only = process.argv.slice(2);
for (const [name, run] of benches) {
  if (only.length && !only.some((o) => name.includes(o))) continue;
  process.stdout.write(`\n== ${name}\n`);
  try {
    const results = await run();
    for (const [k, v] of Object.entries(results))
      process.stdout.write(`  ${k.padEnd(58)} ${(typeof v === "number" ? fmt(v) : v).padStart(12)}\n`);
  } catch (e) {
    process.stdout.write(`  (not run: ${(e as Error).message})\n`);
  }
}
process.exit(0);
