import assert from "node:assert/strict";
import { PassThrough } from "node:stream";
import { after, before, test } from "node:test";
import { CloisterError, Status } from "@cloister/core";
import { common } from "@cloister/proto";
import { client, ECHO_FUNCTION, type Platform, platformConfig, startPlatform } from "../src/index.js";

// Cloister's WatchTask through the whole platform: the SDK's waitForTask follows a task with it
// (no GetTask polling), GetTask's authorisation applies, it ends at an ended state, a client that
// goes away tears the relay down to management; and the frontend's credential cache forgets a
// deleted user at once.
let platform: Platform;
before(async () => {
  platform = await startPlatform(await platformConfig(undefined, '[execution]\nexecutors = ["builtin"]\n'));
});
after(() => platform?.stop());

/** cloister_rpc_requests_total of one service, by `method code`. */
async function calls(service: string): Promise<Map<string, number>> {
  const text = await (await fetch(`http://127.0.0.1:${platform.ports[`ops_${service}`]}/metrics`)).text();
  const out = new Map<string, number>();
  for (const m of text.matchAll(
    /^cloister_rpc_requests_total\{[^}]*method="([^"]+)",code="([^"]+)"[^}]*\} (\d+)/gm,
  ))
    out.set(`${m[1]} ${m[2]}`, Number(m[3]));
  return out;
}
const grew = (a: Map<string, number>, b: Map<string, number>, key: string) =>
  (b.get(key) ?? 0) - (a.get(key) ?? 0);

const codeOf = (e: unknown) => (e instanceof CloisterError ? e.code : (e as { code?: number }).code);

test("waitForTask follows the task over WatchTask to Finished, without polling GetTask", async () => {
  const c = client(platform);
  try {
    await c.login("admin", "teaclave");
    const functionId = await c.registerFunction(ECHO_FUNCTION);
    const taskId = await c.createTask({ functionId, arguments: { message: "watched" } });
    const before = await calls("frontend");
    await c.invokeTask(taskId);
    const task = await c.waitForTask(taskId, { timeoutMs: 30_000 });
    assert.equal(task.status, common.TaskStatus.Finished);
    assert.equal(Buffer.from(task.result!.Ok!.returnValue).toString(), "watched");
    assert.equal((await c.taskResult(taskId)).toString(), "watched");
    const afterCalls = await calls("frontend");
    assert.ok(grew(before, afterCalls, "CloisterFrontend/WatchTask OK") >= 1, "the stream was used");
    assert.equal(grew(before, afterCalls, "TeaclaveFrontend/GetTask OK"), 0, "no polling");
  } finally {
    c.close();
  }
});

test("a non-participant is refused with PERMISSION_DENIED; a canceled task ends the watch", async () => {
  const owner = client(platform);
  const other = client(platform);
  try {
    await owner.login("admin", "teaclave");
    await owner.registerUser("watch-mallory", "secret-pass", "DataOwner", "evil");
    await other.login("watch-mallory", "secret-pass");
    const functionId = await owner.registerFunction(ECHO_FUNCTION);
    const taskId = await owner.createTask({ functionId, arguments: { message: "x" } });
    await assert.rejects(
      other.waitForTask(taskId, { timeoutMs: 10_000 }),
      (e) => codeOf(e) === Status.PERMISSION_DENIED,
    );
    const progress: number[] = [];
    const waiting = owner.waitForTask(taskId, {
      timeoutMs: 30_000,
      onProgress: (t) => progress.push(t.status),
    });
    await new Promise((r) => setTimeout(r, 200));
    await owner.cancelTask(taskId);
    const ended = await waiting;
    assert.equal(ended.status, common.TaskStatus.Canceled);
    assert.deepEqual(progress, [common.TaskStatus.Created]);
  } finally {
    owner.close();
    other.close();
  }
});

test("a client that goes away (its deadline passes) ends management's watch too", async () => {
  const c = client(platform);
  try {
    await c.login("admin", "teaclave");
    const functionId = await c.registerFunction(ECHO_FUNCTION);
    const taskId = await c.createTask({ functionId, arguments: { message: "never run" } });
    const before = await calls("management");
    await assert.rejects(
      c.waitForTask(taskId, { timeoutMs: 500 }),
      (e) => (e as Error).name === "TaskWaitTimeoutError",
    );
    // The frontend cancels its relay; management records the watch as cancelled.
    let ended = 0;
    for (let i = 0; i < 50 && ended === 0; i++) {
      await new Promise((r) => setTimeout(r, 100));
      ended = grew(before, await calls("management"), "CloisterManagement/WatchTask CANCELLED");
    }
    assert.equal(ended, 1);
  } finally {
    c.close();
  }
});

test("the frontend's credential cache forgets a deleted user at once (well within its TTL)", async () => {
  const admin = client(platform);
  const user = client(platform);
  try {
    await admin.login("admin", "teaclave");
    await admin.registerUser("watch-temp", "secret-pass", "DataOwner", "temp");
    await user.login("watch-temp", "secret-pass");
    await user.listFunctions("watch-temp");
    await user.listFunctions("watch-temp"); // answered from the cache
    await admin.deleteUser("watch-temp");
    const deletedAt = Date.now();
    let code: number | undefined;
    while (Date.now() - deletedAt < 2000) {
      try {
        await user.listFunctions("watch-temp");
      } catch (e) {
        code = codeOf(e);
        break;
      }
    }
    assert.equal(code, Status.UNAUTHENTICATED);
  } finally {
    admin.close();
    user.close();
  }
});

test("against a frontend without WatchTask (12 UNIMPLEMENTED), waitForTask polls GetTask instead", async () => {
  const c = client(platform);
  try {
    await c.login("admin", "teaclave");
    // What a Teaclave frontend answers: the stream fails at once with UNIMPLEMENTED.
    const ext = (c as unknown as { feExt: { watchTask: unknown } }).feExt;
    let asked = 0;
    ext.watchTask = () => {
      asked++;
      const stream = new PassThrough({ objectMode: true }) as PassThrough & { cancel(): void };
      stream.cancel = () => undefined;
      setImmediate(() =>
        stream.destroy(Object.assign(new Error("12 UNIMPLEMENTED"), { code: 12, details: "", metadata: {} })),
      );
      return stream;
    };
    const functionId = await c.registerFunction(ECHO_FUNCTION);
    const before = await calls("frontend");
    for (const message of ["one", "two"]) {
      const taskId = await c.createTask({ functionId, arguments: { message } });
      await c.invokeTask(taskId);
      assert.equal((await c.taskResult(taskId, { timeoutMs: 30_000 })).toString(), message);
    }
    assert.equal(asked, 1, "asked once; the platform is then known not to have it");
    assert.ok(grew(before, await calls("frontend"), "TeaclaveFrontend/GetTask OK") >= 2, "it polled");
  } finally {
    c.close();
  }
});
