import { client, ECHO_FUNCTION, platformConfig, startPlatform } from "@cloister/tests";

const MiB = 1024 * 1024;
const seconds = (t: bigint) => Number(process.hrtime.bigint() - t) / 1e9;

/**
 * A large function payload through every hop: RegisterFunction (frontend → management →
 * storage), GetFunction back, and one builtin-echo task that carries it in its staged task
 * (management → storage queue → scheduler → execution). What dominates is how records and
 * staged tasks encode their bytes.
 */
export async function benchRecordsPlatform(payloadMiB = 15): Promise<Record<string, number>> {
  const platform = await startPlatform(
    await platformConfig(undefined, '[execution]\nexecutors = ["builtin"]\n'),
  );
  const c = client(platform);
  try {
    await c.login("admin", "teaclave");
    const payload = Buffer.alloc(payloadMiB * MiB, 0x61);
    let t = process.hrtime.bigint();
    const functionId = await c.registerFunction({ ...ECHO_FUNCTION, payload });
    const register = seconds(t);
    t = process.hrtime.bigint();
    const got = await c.call("getFunction", { functionId });
    const get = seconds(t);
    if (Buffer.from(got.payload).length !== payload.length) throw new Error("payload changed on the way");
    t = process.hrtime.bigint();
    const taskId = await c.createTask({ functionId, arguments: { message: "big" }, executor: "builtin" });
    await c.invokeTask(taskId);
    const out = await c.taskResult(taskId, { timeoutMs: 600_000 });
    const run = seconds(t);
    if (out.toString() !== "big") throw new Error("unexpected task result");
    return {
      [`register ${payloadMiB} MiB function s`]: register,
      [`get ${payloadMiB} MiB function s`]: get,
      [`create+invoke+result with ${payloadMiB} MiB payload s`]: run,
      "total s": register + get + run,
    };
  } finally {
    c.close();
    await platform.stop();
  }
}

/** The record codecs alone, in process: a function record and its staged task with a large payload. */
export async function benchRecordCodec(payloadMiB = 15): Promise<Record<string, number>> {
  const { buildStagedTask, createTask, functionRecords, stagedTasks } = await import("@cloister/model");
  const fn = {
    uuid: "0b0e2a5c-7f43-4c8e-9a4e-2c8d6d1f3b21",
    name: "builtin-echo",
    description: "",
    public: true,
    executorType: "builtin" as const,
    payload: Buffer.alloc(payloadMiB * MiB, 0x61),
    arguments: [{ key: "message", defaultValue: "", allowOverwrite: true }],
    inputs: [],
    outputs: [],
    owner: "admin",
    userAllowlist: [],
    usageQuota: null,
  };
  const task = createTask({
    creator: "admin",
    role: "PlatformAdmin",
    fn,
    executor: "builtin",
    functionArguments: '{"message":"x"}',
    inputsOwnership: [],
    outputsOwnership: [],
  });
  const staged = buildStagedTask(task, fn);
  const out: Record<string, number> = {};
  for (const version of [1, 2] as const) {
    const time = (run: () => unknown) => {
      const t = process.hrtime.bigint();
      run();
      return Number(process.hrtime.bigint() - t) / 1e6;
    };
    let raw: Buffer = Buffer.alloc(0);
    out[`v${version} function encode ms`] = time(() => {
      raw = functionRecords.encode(fn, version);
    });
    out[`v${version} function size MiB`] = raw.length / MiB;
    out[`v${version} function decode ms`] = time(() => functionRecords.decode(raw));
    out[`v${version} staged task encode ms`] = time(() => {
      raw = stagedTasks.encode(staged, version);
    });
    out[`v${version} staged task decode ms`] = time(() => stagedTasks.decode(raw));
    out[`v${version} staged task id (no payload decode) ms`] = time(() => stagedTasks.taskIdOf(raw));
  }
  return out;
}
