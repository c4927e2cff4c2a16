// The host side of the Python executor bounds and checks what a zygote sends back before using
// it. The product's zygote relays the child's result from a memfd and never lets a task reach
// the host channel, so the forging is done by a test-only stand-in zygote
// (fixtures/forging-zygote.py) run in the same sandbox through the same host code.
import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { DEFAULT_LIMITS, MemoryTaskRuntime, TaskFailure } from "@cloister/runtime";
import type { RecyclingSandboxPool } from "@cloister/sandbox";
import { MESAPY_ERROR_BUFFER_TOO_SHORT, REPLY_TOO_LARGE_REASON } from "../src/index.js";
import { runZygoteTask } from "../src/run-task.js";
import { createZygotePool } from "../src/zygote-pool.js";

const MiB = 1024 * 1024;
const here = dirname(fileURLToPath(import.meta.url));
const forger = join(here, "..", "..", "test", "fixtures", "forging-zygote.py");

describe("reply limits of the Python executor's host", () => {
  let pool: RecyclingSandboxPool;
  const memoryBytes = 64 * MiB;
  before(async () => {
    pool = createZygotePool({ poolSize: 1, spare: 1, memoryBytes }, forger);
    await pool.start();
  });
  after(() => pool.close());

  const run = (argv: string[], executor = "mesapy", runtime = new MemoryTaskRuntime({}, ["out"])) =>
    runZygoteTask({
      pool,
      memoryBytes,
      request: {
        taskId: "00000000-0000-0000-0000-000000000000",
        functionId: "forged",
        functionName: "forged",
        payload: Buffer.alloc(0),
        executorType: "python",
        executor,
        arguments: {},
        argv,
        runtime,
        limits: { ...DEFAULT_LIMITS, maxReturnBytes: MiB, timeoutMs: 120_000 },
        signal: new AbortController().signal,
      },
    }).then((value) => ({ value, runtime }));

  const rejects = (p: Promise<unknown>, prefix: string, legacy?: string) =>
    assert.rejects(p, (e: unknown) => {
      assert.ok(e instanceof TaskFailure, String(e));
      assert.ok(e.message.startsWith(prefix), e.message);
      assert.equal(e.legacyReturnValue, legacy);
      return true;
    });

  it("refuses a 200 MiB child result unread, at once (not a timeout)", async () => {
    await rejects(
      run(["blob", String(200 * MiB)]),
      `${REPLY_TOO_LARGE_REASON}: the outputs of 209715200 bytes`,
    );
  });

  it("refuses a status of 1 MiB", async () => {
    await rejects(
      run(["header", String(MiB)]),
      `${REPLY_TOO_LARGE_REASON}: the result (return value and logs) of`,
    );
  });

  it("a forged value over the legacy 20,480-byte buffer is MESAPY_ERROR_BUFFER_TOO_SHORT", async () => {
    await rejects(
      run(["child", "30000", "0", "out"]),
      MESAPY_ERROR_BUFFER_TOO_SHORT,
      MESAPY_ERROR_BUFFER_TOO_SHORT,
    );
  });

  it("a forged value over the platform's return cap fails, saying so", async () => {
    await rejects(run(["child", String(3 * MiB), "0", "out"], "python3"), "return value limit exceeded");
  });

  it("keeps only declared outputs, bounded by the runtime", async () => {
    const { value, runtime } = await run(["child", "2", "5", "out"]);
    assert.equal(value, "vv");
    assert.equal(runtime.outputs.get("out")?.toString(), "ooooo");
    const undeclared = await run(["child", "2", "5", "secret"]);
    assert.equal(undeclared.runtime.outputs.size, 0);
    const small = new MemoryTaskRuntime({}, ["out"], { maxOutputBytes: 4, maxLogBytes: 1024 });
    await rejects(run(["child", "2", "5", "out"], "mesapy", small), "output out exceeds 4 bytes");
  });
});
