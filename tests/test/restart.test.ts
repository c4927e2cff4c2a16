import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { CloisterError } from "@cloister/core";
import { common } from "@cloister/proto";
import { LevelDbStore } from "@cloister/storage";
import { client, ECHO_FUNCTION, platformConfig, startPlatform } from "../src/index.js";

test("state survives a restart of every service; a tampered stored value is detected, never returned", async () => {
  const setup = await platformConfig();
  let platform = await startPlatform(setup);
  const open = () => client(platform);
  let c = open();
  let functionId: string;
  let taskId: string;
  let token: string;
  try {
    token = await c.login("admin", "teaclave");
    await c.registerUser("bob", "pw", "FunctionOwner");
    functionId = await c.registerFunction(ECHO_FUNCTION);
    taskId = await c.createTask({ functionId, arguments: { message: "before restart" } });
    await c.invokeTask(taskId);
    assert.equal((await c.taskResult(taskId)).toString(), "before restart");
  } finally {
    c.close();
    await platform.stop();
  }

  platform = await startPlatform(setup);
  c = open();
  try {
    // The old session still works (the token key is kept sealed), users, functions and tasks are intact.
    c.session = { id: "admin", token };
    const task = await c.getTask(taskId);
    assert.equal(task.status, common.TaskStatus.Finished);
    assert.equal(Buffer.from(task.result!.Ok!.returnValue).toString(), "before restart");
    assert.equal((await c.call("getFunction", { functionId })).name, "builtin-echo");
    await c.login("bob", "pw");
  } finally {
    c.close();
    await platform.stop();
  }

  // Flip one byte of the sealed function record underneath the storage service.
  const raw = await LevelDbStore.open(join(setup.dataDir, "storage", "db"));
  const key = Buffer.from(`function-${functionId.slice("function-".length)}`);
  const sealed = await raw.get(key);
  assert.ok(sealed, "the function record is stored under its legacy key");
  assert.ok(!sealed.includes(Buffer.from("builtin-echo")), "the value is sealed, not plaintext");
  sealed[sealed.length - 5]! ^= 0x40;
  await raw.put(key, sealed);
  await raw.close();

  platform = await startPlatform(setup);
  c = open();
  try {
    await c.login("admin", "teaclave");
    await assert.rejects(c.call("getFunction", { functionId }), (e: unknown) => {
      assert.ok(e instanceof CloisterError);
      assert.equal(e.code, 13);
      return true;
    });
    // Everything else is still served.
    assert.equal((await c.getTask(taskId)).status, common.TaskStatus.Finished);
  } finally {
    c.close();
    await platform.stop();
  }
});
