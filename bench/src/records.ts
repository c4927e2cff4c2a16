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
