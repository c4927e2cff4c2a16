// The host side of the wasm and JavaScript executors bounds what a sandbox sends back before
// reading it: a forged oversized result fails the task at once, with a reason that says so.
import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { DEFAULT_LIMITS, MemoryTaskRuntime, TaskFailure } from "@cloister/runtime";
import { RecyclingSandboxPool } from "@cloister/sandbox";
import { REPLY_TOO_LARGE, RETURN_LIMIT_EXCEEDED, runSandboxedGuest } from "../src/sandboxed.js";

const MiB = 1024 * 1024;
const workerScript = join(dirname(fileURLToPath(import.meta.url)), "fixtures", "forging-worker.js");

describe("reply limits of the wasm/javascript host", () => {
  let pool: RecyclingSandboxPool;
  before(async () => {
    pool = new RecyclingSandboxPool({ workerScript, maxWorkers: 1, spare: 1 });
    await pool.start();
  });
  after(() => pool.close());

  const run = (returnBytes: number, outputBytes: number) =>
    runSandboxedGuest({
      pool,
      request: {
        taskId: "00000000-0000-0000-0000-000000000000",
        functionName: "forged",
        payload: Buffer.alloc(0),
        executorType: "wamr",
        executor: "wamr",
        arguments: {},
        runtime: new MemoryTaskRuntime({}, ["out"]),
        // The platform's cap on a return value.
        limits: { ...DEFAULT_LIMITS, maxReturnBytes: MiB, timeoutMs: 120_000 },
        signal: new AbortController().signal,
      },
      argv: [String(returnBytes), String(outputBytes)],
      guestLimits: {},
      maxOutputBytes: 4 * MiB,
    });

  // The JSON part may legitimately be six times the return cap (escaped control characters),
  // so a 3 MiB result is read and refused by the return cap; 20 MiB is refused unread.
  for (const [what, ret, out, reason] of [
    ["a 3 MiB result", 3 * MiB, 0, RETURN_LIMIT_EXCEEDED],
    ["a 20 MiB result", 20 * MiB, 0, `${REPLY_TOO_LARGE}: the result (return value and logs) of`],
    ["20 MiB of outputs", 0, 20 * MiB, `${REPLY_TOO_LARGE}: the outputs of 20971520 bytes exceeds the limit`],
    ["a result just over the return cap", MiB + 1, 0, RETURN_LIMIT_EXCEEDED],
  ] as const) {
    it(`fails ${what} with a reason that says so`, async () => {
      await assert.rejects(run(ret, out), (e: unknown) => {
        assert.ok(e instanceof TaskFailure, String(e));
        assert.ok(e.message.startsWith(reason), e.message);
        return true;
      });
    });
  }
});
