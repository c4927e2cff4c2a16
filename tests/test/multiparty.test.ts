/**
 * Multi-party tasks end to end through the real platform with real encrypted files
 * (spec/behaviour.md §6, executors-and-files.md §7.3–§7.4, §8 `file:` URLs, §9.2, §9.4):
 * two-party ordered-set intersection, three-party private join-and-compute, cancelling a running
 * task. (A restart in the middle of a flow: multiparty-restart.test.ts.)
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { copyFile, mkdir } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { encryptFile, type FileCryptoInfo } from "@cloister/crypto";
import { common } from "@cloister/proto";
import type { CloisterClient } from "@cloister/sdk";
import type { Platform } from "../src/index.js";
import {
  arg,
  exchangeOf,
  fixture,
  io,
  launch,
  PSI_FUNCTION,
  psiTask,
  readOutput,
  registerData as registerDataAs,
  rejectsWith,
  removeDir,
  session,
  stageFixture,
  waitForStatus,
  wireCrypto,
} from "./support.js";

let platform: Platform;
let dir: string;
const users: Record<string, CloisterClient> = {};
const PARTIES = ["alice", "bob", "carol"] as const;
type Party = (typeof PARTIES)[number];

/** Each data owner's own key for its outputs (inputs are the fixtures, all-zero key). */
const outputKey: Record<Party, Buffer> = {
  alice: randomBytes(16),
  bob: randomBytes(16),
  carol: randomBytes(16),
};
const keyInfo = (p: Party): FileCryptoInfo => ({ schema: "teaclave-file-128", key: outputKey[p] });

/** A data owner registers a fixture as input and a fresh output path under its own directory. */
const registerData = (p: Party, source: string, outName: string) =>
  registerDataAs(users[p]!, join(dir, p), source, outName, outputKey[p]);
const registerPsi = () => users.fo!.registerFunction(PSI_FUNCTION);
/** alice's task: input/output 1 belong to alice, 2 to bob. */
const createPsiTask = (functionId: string) => users.alice!.createTask(psiTask(functionId, "alice", "bob"));

let lrFunction: string | undefined;
/**
 * alice's invoked logistic-regression training for billions of iterations: it keeps an executor
 * slot busy until canceled (the task timeout is 10 minutes).
 */
async function longTask(name: string) {
  lrFunction ??= await users.fo!.registerFunction({
    name: "builtin-logistic-regression-train",
    arguments: [arg("alg_alpha"), arg("alg_iters"), arg("feature_size")],
    inputs: io(["training_data"]),
    outputs: io(["model_file"]),
  });
  const home = join(dir, "alice", name);
  await mkdir(home, { recursive: true });
  const enc = join(home, "train.enc");
  const key = outputKey.alice;
  const { cmac } = await encryptFile(fixture("logistic_regression_training", "train.txt"), enc, {
    schema: "teaclave-file-128",
    key,
  });
  const input = await users.alice!.call("registerInputFile", {
    url: `file://${enc}`,
    cmac,
    cryptoInfo: wireCrypto(key),
  });
  const modelPath = join(home, "model.enc");
  const output = await users.alice!.call("registerOutputFile", {
    url: `file://${modelPath}`,
    cryptoInfo: wireCrypto(key),
  });
  const taskId = await users.alice!.createTask({
    functionId: lrFunction,
    arguments: { alg_alpha: 0.3, alg_iters: 4_000_000_000, feature_size: 30 },
    inputsOwnership: [{ dataName: "training_data", uids: ["alice"] }],
    outputsOwnership: [{ dataName: "model_file", uids: ["alice"] }],
  });
  await users.alice!.assignData(taskId, { training_data: input.dataId }, { model_file: output.dataId });
  // A single participant needs no approval (§6.4).
  await users.alice!.invokeTask(taskId);
  return { taskId, modelPath, output };
}

before(async () => {
  platform = await launch();
  dir = exchangeOf(platform);
  const admin = await session(platform, "admin", "teaclave");
  await admin.registerUser("fo", "pw", "FunctionOwner");
  for (const p of PARTIES) await admin.registerUser(p, "pw", "DataOwner", p === "carol" ? "bank-c" : "bank");
  admin.close();
  users.fo = await session(platform, "fo");
  for (const p of PARTIES) users[p] = await session(platform, p);
});

after(async () => {
  for (const c of Object.values(users)) c.close();
  await platform?.stop();
  await removeDir(dir);
});

describe("multi-party tasks through the whole platform", () => {
  test("two data owners: builtin-ordered-set-intersect on psi0/psi1 (§9.2), each decrypts its own result", async () => {
    const fn = await registerPsi();
    const a = await registerData(
      "alice",
      fixture("ordered_set_intersect", "psi0.txt.enc"),
      "psi-result-alice.enc",
    );
    const b = await registerData(
      "bob",
      fixture("ordered_set_intersect", "psi1.txt.enc"),
      "psi-result-bob.enc",
    );
    // The fixture cmacs are the verified vectors of executors-and-files.md §7.3.
    assert.equal(a.cmac.toString("hex"), "92f686d4ac2ba6b4ffd93bc7ac5dbf58");
    assert.equal(b.cmac.toString("hex"), "8b3104972a6f0de949315e0b45d5dd66");

    const taskId = await createPsiTask(fn);
    let task = await users.bob!.getTask(taskId);
    assert.deepEqual(task.participants, ["alice", "bob"]);
    assert.equal(task.status, common.TaskStatus.Created);

    // bob cannot assign alice's slot, nor approve before all data is assigned.
    await rejectsWith(users.bob!.assignData(taskId, { input_data1: b.input }), 7, "permission denied");
    await users.alice!.assignData(taskId, { input_data1: a.input }, { output_result1: a.output });
    await rejectsWith(users.alice!.approveTask(taskId), 2, "failed to approve task");
    await users.bob!.assignData(taskId, { input_data2: b.input }, { output_result2: b.output });
    assert.equal((await users.alice!.getTask(taskId)).status, common.TaskStatus.DataAssigned);
    await users.alice!.approveTask(taskId);
    await rejectsWith(users.alice!.invokeTask(taskId), 2, "failed to invoke task");
    await users.bob!.approveTask(taskId);
    assert.equal((await users.alice!.getTask(taskId)).status, common.TaskStatus.Approved);
    await rejectsWith(users.bob!.invokeTask(taskId), 7, "permission denied");
    await users.alice!.invokeTask(taskId);

    assert.equal((await users.alice!.taskResult(taskId, { timeoutMs: 30_000 })).toString(), "3 common items");
    task = await users.bob!.getTask(taskId);
    assert.equal(task.status, common.TaskStatus.Finished);
    const tags = task.result!.Ok!.tagsMap;

    const mine = await readOutput(a.outPath, keyInfo("alice"));
    const theirs = await readOutput(b.outPath, keyInfo("bob"));
    assert.equal(mine.plaintext, "0101010");
    assert.equal(theirs.plaintext, "01101");
    assert.deepEqual(Buffer.from(tags.output_result1!), mine.cmac);
    assert.deepEqual(Buffer.from(tags.output_result2!), theirs.cmac);
    const outA = await users.alice!.call("getOutputFile", { dataId: a.output });
    const outB = await users.bob!.call("getOutputFile", { dataId: b.output });
    assert.deepEqual(
      { owner: outA.owner, cmac: Buffer.from(outA.cmac) },
      { owner: ["alice"], cmac: mine.cmac },
    );
    assert.deepEqual(
      { owner: outB.owner, cmac: Buffer.from(outB.cmac) },
      { owner: ["bob"], cmac: theirs.cmac },
    );
    await rejectsWith(users.bob!.call("getOutputFile", { dataId: a.output }), 7, "permission denied");

    // A produced output can feed a later task: same uuid, same cmac (§5.2)…
    const asInput = await users.alice!.call("registerInputFromOutput", { dataId: a.output });
    assert.equal(asInput.dataId, a.output.replace(/^output-/, "input-"));
    const info = await users.alice!.call("getInputFile", { dataId: asInput.dataId });
    assert.deepEqual(Buffer.from(info.cmac), mine.cmac);
    await rejectsWith(
      users.bob!.call("registerInputFromOutput", { dataId: a.output }),
      7,
      "permission denied",
    );
    // …but cannot be assigned as an output again: its result upload could never be recorded (§6.5, §12).
    const again = await createPsiTask(fn);
    await rejectsWith(
      users.alice!.assignData(again, { input_data1: a.input }, { output_result1: a.output }),
      7,
      "permission denied",
    );
  });

  test("three data owners: builtin-private-join-and-compute on bank_a/b/c (§9.4)", async () => {
    const fn = await users.fo!.registerFunction({
      name: "builtin-private-join-and-compute",
      arguments: [arg("num_user")],
      inputs: io(["input_data0", "input_data1", "input_data2"]),
      outputs: io(["output_data0", "output_data1", "output_data2"]),
    });
    const banks = { alice: "bank_a.enc", bob: "bank_b.enc", carol: "bank_c.enc" } as const;
    const data = {} as Record<Party, Awaited<ReturnType<typeof registerData>>>;
    for (const p of PARTIES)
      data[p] = await registerData(
        p,
        fixture("private_join_and_compute", "three_party_data", banks[p]),
        `pjc-${p}.enc`,
      );
    assert.deepEqual(
      PARTIES.map((p) => data[p].cmac.toString("hex")),
      [
        "f6a4585a4903f8dea0ee90ac84a50dba",
        "ab6065314fcbacd6971ff55d3821b51e",
        "9d7dbe465806731a43008ab094c97688",
      ],
    );
    // carol (another group, bank-c) creates it: a public function needs no allowlist.
    const taskId = await users.carol!.createTask({
      functionId: fn,
      arguments: { num_user: 3 },
      inputsOwnership: PARTIES.map((p, i) => ({ dataName: `input_data${i}`, uids: [p] })),
      outputsOwnership: PARTIES.map((p, i) => ({ dataName: `output_data${i}`, uids: [p] })),
    });
    for (const [i, p] of PARTIES.entries())
      await users[p]!.assignData(
        taskId,
        { [`input_data${i}`]: data[p].input },
        { [`output_data${i}`]: data[p].output },
      );
    for (const p of PARTIES) await users[p]!.approveTask(taskId);
    const task = await users.alice!.getTask(taskId);
    assert.deepEqual(task.approvedUsers, ["alice", "bob", "carol"]);
    assert.equal(task.status, common.TaskStatus.Approved);
    await users.carol!.invokeTask(taskId);

    assert.equal(
      (await users.carol!.taskResult(taskId, { timeoutMs: 30_000 })).toString(),
      "3 users join the task in total.",
    );
    const tags = (await users.bob!.getTask(taskId)).result!.Ok!.tagsMap;
    for (const [i, p] of PARTIES.entries()) {
      const out = await readOutput(data[p].outPath, keyInfo(p));
      // One line per joined identity, in unspecified order.
      assert.deepEqual(out.plaintext.split("\n").sort(), ["", "c, 470000", "e, 5033000"], `${p}'s output`);
      assert.deepEqual(Buffer.from(tags[`output_data${i}`]!), out.cmac);
      assert.deepEqual(
        Buffer.from((await users[p]!.call("getOutputFile", { dataId: data[p].output })).cmac),
        out.cmac,
      );
    }
  });

  test("cancel of a RUNNING task: Canceled with `Task Canceled by the user`, no output written, the platform keeps serving", async () => {
    const { taskId, modelPath, output } = await longTask("cancel-running");
    await waitForStatus(users.alice!, taskId, common.TaskStatus.Running);
    await users.alice!.cancelTask(taskId);
    const task = await users.alice!.waitForTask(taskId, { timeoutMs: 30_000 });
    assert.equal(common.taskStatusToJSON(task.status), "Canceled");
    assert.equal(task.result?.Err?.reason, "Task Canceled by the user");
    await rejectsWith(
      users.alice!.cancelTask(taskId),
      2,
      "failed to cancel task, reason: task has already been canceled",
    );
    assert.equal(existsSync(modelPath), false, "a canceled task uploads nothing");
    assert.equal((await users.alice!.call("getOutputFile", { dataId: output.dataId })).cmac.length, 0);

    // The executor slot is free again and the platform still runs tasks.
    const echo = await users.fo!.registerFunction({ name: "builtin-echo", arguments: [arg("message")] });
    const after = await users.bob!.createTask({ functionId: echo, arguments: { message: "still serving" } });
    await users.bob!.invokeTask(after);
    assert.equal((await users.bob!.taskResult(after, { timeoutMs: 30_000 })).toString(), "still serving");
  });

  test("cancel of a STAGED task (every executor slot busy): Canceled with `Task Canceled by the user` and never run (§7.4)", async () => {
    // The execution node has two slots (default concurrency): fill both, then queue an echo.
    const busy = [await longTask("busy-1"), await longTask("busy-2")];
    for (const b of busy) await waitForStatus(users.alice!, b.taskId, common.TaskStatus.Running);
    const echo = await users.fo!.registerFunction({ name: "builtin-echo", arguments: [arg("message")] });
    const queued = await users.alice!.createTask({ functionId: echo, arguments: { message: "never" } });
    await users.alice!.invokeTask(queued);
    assert.equal((await users.alice!.getTask(queued)).status, common.TaskStatus.Staged);
    await users.alice!.cancelTask(queued);
    // Free the slots; the queued task must not run when one becomes available.
    for (const b of busy) await users.alice!.cancelTask(b.taskId);
    const task = await users.alice!.waitForTask(queued, { timeoutMs: 30_000 });
    assert.equal(common.taskStatusToJSON(task.status), "Canceled");
    assert.equal(task.result?.Err?.reason, "Task Canceled by the user");
    for (const b of busy)
      assert.equal(
        (await users.alice!.waitForTask(b.taskId, { timeoutMs: 30_000 })).result?.Err?.reason,
        "Task Canceled by the user",
      );
  });

  test("an input registered with a wrong cmac fails the task (Finished, Err `Corrupted input file…`) and writes no output", async () => {
    const fn = await registerPsi();
    const a = await registerData(
      "alice",
      fixture("ordered_set_intersect", "psi0.txt.enc"),
      "bad-cmac-alice.enc",
    );
    const b = await registerData("bob", fixture("ordered_set_intersect", "psi1.txt.enc"), "bad-cmac-bob.enc");
    const forged = Buffer.from(b.cmac);
    forged[0]! ^= 1;
    const home = join(dir, "bob", "forged");
    const staged = await stageFixture(home, fixture("ordered_set_intersect", "psi1.txt.enc"));
    const badInput = await users.bob!.call("registerInputFile", {
      url: staged.url,
      cmac: forged,
      cryptoInfo: wireCrypto(),
    });
    const taskId = await createPsiTask(fn);
    await users.alice!.assignData(taskId, { input_data1: a.input }, { output_result1: a.output });
    await users.bob!.assignData(taskId, { input_data2: badInput.dataId }, { output_result2: b.output });
    for (const p of ["alice", "bob"] as const) await users[p]!.approveTask(taskId);
    await users.alice!.invokeTask(taskId);
    const task = await users.alice!.waitForTask(taskId, { timeoutMs: 30_000 });
    assert.equal(common.taskStatusToJSON(task.status), "Finished");
    assert.match(task.result?.Err?.reason ?? "(no Err)", /^Corrupted input file/);
    assert.equal(existsSync(a.outPath) || existsSync(b.outPath), false);
  });

  test("a teaclave-file-128 input whose stored file name is not its URL basename is refused (executors-and-files.md §7.3)", async () => {
    // §7.3: the stored name must equal the basename of the path being opened; the legacy platform
    // opens the download under the URL's basename, so a renamed protected file fails the task.
    const fn = await registerPsi();
    const a = await registerData(
      "alice",
      fixture("ordered_set_intersect", "psi0.txt.enc"),
      "renamed-alice.enc",
    );
    const b = await registerData("bob", fixture("ordered_set_intersect", "psi1.txt.enc"), "renamed-bob.enc");
    const renamed = join(dir, "bob", "renamed", "not-psi1.txt.enc");
    await mkdir(join(dir, "bob", "renamed"), { recursive: true });
    await copyFile(fixture("ordered_set_intersect", "psi1.txt.enc"), renamed);
    const input = await users.bob!.call("registerInputFile", {
      url: `file://${renamed}`,
      cmac: b.cmac,
      cryptoInfo: wireCrypto(),
    });
    const taskId = await createPsiTask(fn);
    await users.alice!.assignData(taskId, { input_data1: a.input }, { output_result1: a.output });
    await users.bob!.assignData(taskId, { input_data2: input.dataId }, { output_result2: b.output });
    for (const p of ["alice", "bob"] as const) await users[p]!.approveTask(taskId);
    await users.alice!.invokeTask(taskId);
    const task = await users.alice!.waitForTask(taskId, { timeoutMs: 30_000 });
    assert.equal(common.taskStatusToJSON(task.status), "Finished");
    assert.ok(
      task.result?.Err,
      `expected the task to fail, it returned ${JSON.stringify(Buffer.from(task.result?.Ok?.returnValue ?? []).toString())}`,
    );
    assert.equal(existsSync(a.outPath) || existsSync(b.outPath), false);
  });

  test("a user names only files of its own, and the node reaches no metadata or private address (issue 14 items 2-3)", async () => {
    const a = await registerData("alice", fixture("ordered_set_intersect", "psi0.txt.enc"), "own-alice.enc");
    const outside = "file URL outside the caller's exchange directory";
    // bob cannot name alice's files (input or output), nor anything outside the exchange.
    const stolen = join(dir, "alice", "psi0.txt.enc");
    for (const url of [
      `file://${stolen}`,
      `file://${dir}/alice/../alice/psi0.txt.enc`,
      "file:///tmp/sealing.key",
    ]) {
      await rejectsWith(
        users.bob!.call("registerInputFile", { url, cmac: a.cmac, cryptoInfo: wireCrypto() }),
        7,
        outside,
        url,
      );
      await rejectsWith(
        users.bob!.call("registerOutputFile", { url, cryptoInfo: wireCrypto() }),
        7,
        outside,
        url,
      );
    }
    // An input on the cloud-metadata address, or on one of the platform's own ports (loopback is
    // open under `cloister up`, those ports are not), fails the task with a reason that says why.
    const fn = await registerPsi();
    const b = await registerData("bob", fixture("ordered_set_intersect", "psi1.txt.enc"), "metadata-bob.enc");
    for (const [url, reason] of [
      [
        "http://169.254.169.254/latest/meta-data/psi0.txt.enc",
        "download failed: address not allowed (metadata)",
      ],
      [
        `http://localhost:${platform.ports.storage}/psi0.txt.enc`,
        "download failed: address not allowed (a platform endpoint, loopback)",
      ],
    ] as const) {
      const hostile = await users.alice!.call("registerInputFile", {
        url,
        cmac: a.cmac,
        cryptoInfo: wireCrypto(),
      });
      const taskId = await createPsiTask(fn);
      await users.alice!.assignData(taskId, { input_data1: hostile.dataId }, { output_result1: a.output });
      await users.bob!.assignData(taskId, { input_data2: b.input }, { output_result2: b.output });
      for (const p of ["alice", "bob"] as const) await users[p]!.approveTask(taskId);
      await users.alice!.invokeTask(taskId);
      const task = await users.alice!.waitForTask(taskId, { timeoutMs: 30_000 });
      assert.equal(common.taskStatusToJSON(task.status), "Finished");
      assert.equal(task.result?.Err?.reason, reason, url);
    }
    assert.equal(existsSync(a.outPath) || existsSync(b.outPath), false);
  });
});
