import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { common } from "@cloister/proto";
import { GET_TASK_WAIT_METADATA } from "@cloister/rpc";
import { client, ECHO_FUNCTION, type Platform, platformConfig, startPlatform } from "../src/index.js";

// GetTask that waits (`[frontend] get_task_wait_ms`): a client that polls GetTask, as Teaclave
// clients do, gets the ended task in the poll it makes right after InvokeTask; a task that does
// not end is answered when the wait runs out, with its status then; a caller can ask for less
// (the Cloister SDK's getTask asks for none).
let platform: Platform;
before(async () => {
  platform = await startPlatform(await platformConfig(undefined, "[frontend]\nget_task_wait_ms = 20000\n"));
});
after(() => platform?.stop());

/** A task that stays in flight (Staged, then Running) for several seconds. */
const SLOW = Buffer.from("import time\ndef entrypoint(argv):\n    time.sleep(6)\n    return 'late'\n");
const IN_FLIGHT = [common.TaskStatus.Staged, common.TaskStatus.Running];

test("a polling client's first GetTask after InvokeTask answers with the finished task", async () => {
  const c = client(platform);
  try {
    await c.login("admin", "teaclave");
    const functionId = await c.registerFunction(ECHO_FUNCTION);
    for (const message of ["one", "two", "three"]) {
      const taskId = await c.createTask({ functionId, arguments: { message } });
      await c.invokeTask(taskId);
      // As a Teaclave client calls it: no Cloister metadata.
      const task = await c.call("getTask", { taskId });
      assert.equal(task.status, common.TaskStatus.Finished, message);
      assert.equal(Buffer.from(task.result!.Ok!.returnValue).toString(), message);
    }
  } finally {
    c.close();
  }
});

test("a task that does not end is answered when the wait runs out; the caller may ask for less", async () => {
  const c = client(platform);
  try {
    await c.login("admin", "teaclave");
    const functionId = await c.registerFunction({
      name: "slow",
      executorType: "python",
      payload: SLOW,
    });
    const taskId = await c.createTask({ functionId, executor: "mesapy" });
    await c.invokeTask(taskId);
    const started = Date.now();
    const held = await c.call("getTask", { taskId }, { [GET_TASK_WAIT_METADATA]: "400" });
    assert.ok(IN_FLIGHT.includes(held.status), `in flight: ${held.status}`);
    assert.ok(Date.now() - started >= 350, "the answer waited for the task");
    // The SDK's getTask asks for no wait; an unreadable value leaves the configured one (checked
    // in the unit tests) — here the 20 s wait would pass the 5 s bound below.
    const now = Date.now();
    assert.ok(IN_FLIGHT.includes((await c.getTask(taskId)).status));
    assert.ok(Date.now() - now < 5000, "getTask answered without the configured 20 s wait");
    // A task that is not in flight is never held.
    const created = await c.createTask({ functionId, executor: "mesapy" });
    const t = Date.now();
    assert.equal((await c.call("getTask", { taskId: created })).status, common.TaskStatus.Created);
    assert.ok(Date.now() - t < 5000, "a created task is answered at once");
    await c.cancelTask(taskId);
  } finally {
    c.close();
  }
});

test("a canceled task ends the wait with its canceled view", async () => {
  const c = client(platform);
  try {
    await c.login("admin", "teaclave");
    const functionId = await c.registerFunction({
      name: "slow-2",
      executorType: "python",
      payload: SLOW,
    });
    const taskId = await c.createTask({ functionId, executor: "mesapy" });
    await c.invokeTask(taskId);
    const held = c.call("getTask", { taskId });
    await new Promise((r) => setTimeout(r, 300));
    await c.cancelTask(taskId);
    assert.equal((await held).status, common.TaskStatus.Canceled);
  } finally {
    c.close();
  }
});
