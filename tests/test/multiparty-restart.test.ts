/**
 * The whole platform is stopped and started again on the same data directory and configuration
 * twice in the middle of a two-party ordered-set-intersect flow (after one owner assigned; after
 * the other assigned and approved): task, files, approvals, sessions and the usage counter
 * survive, and the flow finishes with the right results (executors-and-files.md §9.2).
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { after, test } from "node:test";
import type { FileCryptoInfo } from "@cloister/crypto";
import { common } from "@cloister/proto";
import { CloisterClient, trustFromDataDir } from "@cloister/sdk";
import type { Platform } from "../src/index.js";
import {
  exchangeOf,
  fixture,
  launch,
  PSI_FUNCTION,
  psiTask,
  readOutput,
  registerData,
  removeDir,
  restart,
  session,
} from "./support.js";

let platform: Platform | undefined;
let dir: string | undefined;
const users: Record<string, CloisterClient> = {};

after(async () => {
  for (const c of Object.values(users)) c.close();
  await platform?.stop();
  if (dir) await removeDir(dir);
});

test("a restart of the whole platform (twice) in the middle of a two-party flow loses nothing", async () => {
  let p = await launch();
  dir = exchangeOf(p);
  platform = p;
  const admin = await session(p, "admin", "teaclave");
  await admin.registerUser("fo", "pw", "FunctionOwner");
  await admin.registerUser("alice", "pw", "DataOwner", "bank");
  await admin.registerUser("bob", "pw", "DataOwner", "bank");
  admin.close();
  for (const id of ["fo", "alice", "bob"]) users[id] = await session(p, id);
  const key = { alice: randomBytes(16), bob: randomBytes(16) };
  const info = (k: Buffer): FileCryptoInfo => ({ schema: "teaclave-file-128", key: k });

  const fn = await users.fo!.registerFunction(PSI_FUNCTION);
  const a = await registerData(
    users.alice!,
    join(dir, "alice"),
    fixture("ordered_set_intersect", "psi0.txt.enc"),
    "result.enc",
    key.alice,
  );
  const b = await registerData(
    users.bob!,
    join(dir, "bob"),
    fixture("ordered_set_intersect", "psi1.txt.enc"),
    "result.enc",
    key.bob,
  );
  const taskId = await users.alice!.createTask(psiTask(fn, "alice", "bob"));
  await users.alice!.assignData(taskId, { input_data1: a.input }, { output_result1: a.output });

  // New clients after each restart reuse the sessions issued before it (the token key is kept).
  const reconnect = () => {
    for (const [id, c] of Object.entries(users)) {
      const kept = c.session!;
      c.close();
      users[id] = new CloisterClient({
        authentication: p.authentication,
        frontend: p.frontend,
        trust: trustFromDataDir(p.dataDir),
        session: kept,
      });
    }
  };

  p = platform = await restart(p);
  reconnect();
  let task = await users.bob!.getTask(taskId);
  assert.equal(task.status, common.TaskStatus.Created);
  assert.deepEqual(task.assignedInputs, [{ dataName: "input_data1", dataId: a.input }]);
  assert.deepEqual(task.assignedOutputs, [{ dataName: "output_result1", dataId: a.output }]);
  await users.bob!.assignData(taskId, { input_data2: b.input }, { output_result2: b.output });
  await users.bob!.approveTask(taskId);

  p = platform = await restart(p);
  reconnect();
  task = await users.alice!.getTask(taskId);
  assert.equal(task.status, common.TaskStatus.DataAssigned);
  assert.deepEqual(task.approvedUsers, ["bob"]);
  assert.deepEqual(task.participants, ["alice", "bob"]);
  await users.alice!.approveTask(taskId);
  await users.alice!.invokeTask(taskId);

  assert.equal((await users.alice!.taskResult(taskId, { timeoutMs: 30_000 })).toString(), "3 common items");
  const mine = await readOutput(a.outPath, info(key.alice));
  const theirs = await readOutput(b.outPath, info(key.bob));
  assert.equal(mine.plaintext, "0101010");
  assert.equal(theirs.plaintext, "01101");
  const tags = (await users.bob!.getTask(taskId)).result!.Ok!.tagsMap;
  assert.deepEqual(Buffer.from(tags.output_result1!), mine.cmac);
  assert.deepEqual(Buffer.from(tags.output_result2!), theirs.cmac);
  // The usage counter survived both restarts as well: this function ran exactly once.
  assert.deepEqual(await users.alice!.call("getFunctionUsageStats", { functionId: fn }), {
    functionQuota: -1,
    currentUsage: 1,
  });
});
