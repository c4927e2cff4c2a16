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
  Object.assign(out, await benchTaskResultWire(payloadMiB));
  return out;
}

/**
 * A task result's wire hop, in process: the node's result to the wire message and its bytes, and
 * those bytes back to a result at the scheduler, with and without the protobuf codec (medians of 15).
 */
async function benchTaskResultWire(returnMiB: number): Promise<Record<string, number>> {
  const { taskResultFromProto, taskResultToProto } = await import("@cloister/model");
  const { common } = await import("@cloister/proto");
  const result = {
    kind: "Ok" as const,
    returnValue: Buffer.alloc(returnMiB * MiB, 0x62),
    tagsMap: new Map([["out", Buffer.alloc(16)]]),
    log: Array.from({ length: 1000 }, (_, i) => `log line ${i}`),
  };
  const median = (run: () => unknown) => {
    const runs: number[] = [];
    for (let i = 0; i < 15; i++) {
      const t = process.hrtime.bigint();
      run();
      runs.push(Number(process.hrtime.bigint() - t) / 1e6);
    }
    return runs.sort((a, b) => a - b)[7]!;
  };
  const bytes = common.TaskResult.encode(taskResultToProto(result)).finish();
  const decoded = common.TaskResult.decode(bytes);
  return {
    [`task result (${returnMiB} MiB) to wire message (no encode) ms`]: median(() =>
      taskResultToProto(result),
    ),
    [`task result (${returnMiB} MiB) from wire message (no decode) ms`]: median(() =>
      taskResultFromProto(decoded),
    ),
    [`task result (${returnMiB} MiB) to wire bytes ms`]: median(() =>
      common.TaskResult.encode(taskResultToProto(result)).finish(),
    ),
    [`task result (${returnMiB} MiB) from wire bytes ms`]: median(() =>
      taskResultFromProto(common.TaskResult.decode(bytes)),
    ),
  };
}
