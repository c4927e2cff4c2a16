/**
 * The LibOS executor end to end through the whole platform (`executor_type = "libos"`, gVisor):
 * unmodified programs — Python 3 + numpy, static Go, static C, Java — run as attested,
 * single-use instances on encrypted inputs and outputs; two data owners and a function owner
 * approve; the task evidence is verified from the CLI; replayed evidence and a payload other than
 * the approved one are refused; no plaintext reaches the node's disk.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { mkdir, mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { after, before, describe, test } from "node:test";
import { decryptBuffer, encryptBuffer } from "@cloister/crypto";
import { common } from "@cloister/proto";
import {
  type CloisterClient,
  isLibosError,
  runtimeTrustFromDataDir,
  type TaskEvidence,
  verifyTaskEvidence,
} from "@cloister/sdk";
import type { Platform } from "../src/index.js";
import { exchangeOf, launch, removeDir, runCli, session, wireCrypto } from "./support.js";

const ROOT = new URL("../../../", import.meta.url).pathname;
const FIX = join(ROOT, "fixtures", "libos");
let platform: Platform;
/** Build outputs and session files. */
let dir: string;
/** The platform's file exchange: each owner's files under `<exchange>/<id>/`. */
let exchange: string;
const users: Record<string, CloisterClient> = {};
const keys: Record<string, Buffer> = {};

/** `cloister --json …` as `who` (own session file). */
const cli = (who: string, ...args: string[]) =>
  runCli([
    "--data-dir",
    platform.dataDir,
    "--json",
    ...args,
    // `function pack` works offline and takes no session.
    ...(args[1] === "pack" ? [] : ["--session", join(dir, `${who}.session`)]),
  ]);
async function cliOk(who: string, ...args: string[]) {
  const r = await cli(who, ...args);
  assert.equal(r.code, 0, `cloister ${args.join(" ")}: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

/** A data owner encrypts `plaintext` under its own key and registers it as an input. */
async function input(owner: string, name: string, plaintext: Buffer): Promise<string> {
  const path = join(exchange, owner, `${name}.enc`);
  const info = { schema: "teaclave-file-128" as const, key: keys[owner]! };
  const { file, cmac } = await encryptBuffer(plaintext, info, { fileName: basename(path) });
  await writeFile(path, file);
  return (
    await users[owner]!.call("registerInputFile", {
      url: `file://${path}`,
      cmac,
      cryptoInfo: wireCrypto(keys[owner]),
    })
  ).dataId;
}
async function output(owner: string, name: string): Promise<{ id: string; path: string }> {
  const path = join(exchange, owner, `${name}.out.enc`);
  const r = await users[owner]!.call("registerOutputFile", {
    url: `file://${path}`,
    cryptoInfo: wireCrypto(keys[owner]),
  });
  return { id: r.dataId, path };
}
async function decrypt(owner: string, path: string): Promise<string> {
  const { plaintext } = await decryptBuffer(
    await readFile(path),
    { schema: "teaclave-file-128", key: keys[owner]! },
    { fileName: basename(path) },
  );
  return plaintext.toString("utf8");
}

function build(cmd: string, args: string[], cwd = dir) {
  execFileSync(cmd, args, {
    cwd,
    env: { ...process.env, CGO_ENABLED: "0", GO111MODULE: "off", GOCACHE: join(dir, "go-cache") },
  });
}

/** Every file under `root` that contains `needle` (the node's disk must never hold plaintext). */
function filesContaining(root: string, needle: Buffer): string[] {
  const hits: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile() && statSync(p).size < 64 << 20 && readFileSync(p).includes(needle)) hits.push(p);
    }
  };
  walk(root);
  return hits;
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "cloister-libos-"));
  platform = await launch();
  exchange = exchangeOf(platform);
  const admin = await session(platform, "admin", "teaclave");
  await admin.registerUser("fo", "pw", "FunctionOwner", "fo");
  for (const p of ["alice", "bob"]) await admin.registerUser(p, "pw", "DataOwner", p);
  admin.close();
  for (const p of ["fo", "alice", "bob"]) {
    users[p] = await session(platform, p);
    keys[p] = randomBytes(16);
    await mkdir(join(exchange, p), { recursive: true });
    await cliOk(
      p,
      "user",
      "login",
      p,
      "--password",
      "pw",
      "--authentication",
      platform.authentication,
      "--frontend",
      platform.frontend,
    );
  }
});

after(async () => {
  for (const c of Object.values(users)) c.close();
  await platform?.stop();
  await removeDir(dir);
});

describe("LibOS functions through the whole platform", () => {
  let evidenceOfFirst: TaskEvidence | undefined;

  test("a Python function's stderr lines are followed while it runs", async () => {
    const payload = join(dir, "py-log.tar");
    await cliOk("fo", "function", "pack", join(FIX, "py-log"), "-o", payload);
    const fn = await cliOk(
      "fo",
      "function",
      "register",
      "--name",
      "py-log",
      "--executor-type",
      "libos",
      "--payload",
      payload,
      "--argument",
      "save_log",
    );
    const alice = users.alice!;
    const task = await alice.createTask({
      functionId: fn.function_id,
      executor: "libos",
      arguments: { save_log: "true" },
    });
    await alice.invokeTask(task);
    const lines: string[] = [];
    let sawWhileRunning = false;
    for await (const chunk of alice.taskLog(task, { follow: true })) {
      lines.push(...chunk.lines);
      if (chunk.lines.includes("first line") && chunk.status === common.TaskStatus.Running) {
        sawWhileRunning = (await alice.getTask(task)).status === common.TaskStatus.Running;
      }
    }
    assert.ok(sawWhileRunning, "the first line arrived while the task was still running");
    assert.deepEqual(lines, ["first line", "last line"]);
    assert.equal((await alice.taskResult(task, { timeoutMs: 60_000 })).toString("utf8"), "done\n");
  });

  test("Python 3 + numpy logistic regression on two data owners' encrypted CSVs, registered by a function owner; evidence verified from the CLI", async () => {
    const payload = join(dir, "logreg.tar");
    const packed = await cliOk("fo", "function", "pack", join(FIX, "logreg"), "-o", payload);
    assert.equal(packed.sha256, createHash("sha256").update(readFileSync(payload)).digest("hex"));
    const fn = await cliOk(
      "fo",
      "function",
      "register",
      "--name",
      "logreg",
      "--executor-type",
      "libos",
      "--payload",
      payload,
      "--argument",
      "iters",
      "--input",
      "train_a",
      "train_b",
      "--output",
      "model",
    );
    // A marker only the plaintext holds: it must never appear on the node's disk.
    const marker = `marker-${randomBytes(8).toString("hex")}`;
    const a = await input(
      "alice",
      "train_a",
      Buffer.concat([readFileSync(join(FIX, "train_a.csv")), Buffer.from(`# ${marker}\n`)]),
    );
    const b = await input("bob", "train_b", readFileSync(join(FIX, "train_b.csv")));
    const model = await output("alice", "model");
    const task = await users.alice!.createTask({
      functionId: fn.function_id,
      executor: "libos",
      arguments: { iters: "300" },
      inputsOwnership: [
        { dataName: "train_a", uids: ["alice"] },
        { dataName: "train_b", uids: ["bob"] },
      ],
      outputsOwnership: [{ dataName: "model", uids: ["alice"] }],
    });
    await users.alice!.assignData(task, { train_a: a }, { model: model.id });
    await users.bob!.assignData(task, { train_b: b }, {});
    for (const p of ["alice", "bob"]) await users[p]!.approveTask(task);
    await users.alice!.invokeTask(task);
    const result = (await users.alice!.taskResult(task, { timeoutMs: 120_000 })).toString("utf8");
    assert.match(result, /^rows=300 accuracy=0\.9\d\d\n$/);
    const weights = JSON.parse(await decrypt("alice", model.path)).weights as number[];
    assert.equal(weights.length, 3);
    assert.ok(weights[1]! > 0 && weights[2]! > 0, `weights ${weights}`);

    // Bob checks, with nothing but the platform's published files, what ran on his data.
    const v = await cliOk("bob", "task", "evidence", task, "--payload", payload);
    assert.equal(v.verified, true);
    assert.equal(v.runtime, "libos_gvisor_python3");
    assert.equal(v.simulated, true);
    assert.equal(v.payloadSha256, packed.sha256);
    assert.equal(v.return_value_matches, true);
    // A payload other than the one approved is not what the evidence names.
    writeFileSync(join(dir, "other.tar"), Buffer.concat([readFileSync(payload), Buffer.alloc(512)]));
    const wrong = await cli("bob", "task", "evidence", task, "--payload", join(dir, "other.tar"));
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /another payload/);

    const raw = await users.bob!.taskEvidence(task);
    evidenceOfFirst = JSON.parse(raw!.toString("utf8")) as TaskEvidence;
    assert.deepEqual(filesContaining(platform.dataDir, Buffer.from(marker)), []);
    // Non-participants cannot read it.
    const admin = await session(platform, "admin", "teaclave");
    await admin.registerUser("mallory", "pw", "DataOwner", "mallory");
    admin.close();
    const mallory = await session(platform, "mallory");
    await assert.rejects(mallory.taskEvidence(task), /permission denied/);
    mallory.close();
  });

  test("static Go, static C and Java programs as bare payloads; evidence replayed for another task is refused", async () => {
    build("go", ["build", "-o", join(dir, "stats"), join(FIX, "go-stats", "main.go")]);
    build("gcc", ["-static", "-O2", "-o", join(dir, "wc"), join(FIX, "c-wc", "main.c")]);
    build("javac", ["-d", join(dir, "java"), join(FIX, "java-sum", "Main.java")]);
    writeFileSync(join(dir, "manifest.txt"), "Main-Class: Main\n");
    build("jar", [
      "cfm",
      join(dir, "sum.jar"),
      join(dir, "manifest.txt"),
      "-C",
      join(dir, "java"),
      "Main.class",
    ]);
    const cases = [
      {
        file: "stats",
        input: "rows",
        data: "1.5,x\n2.5,y\n",
        out: "report",
        expect: /^total=4\.0000 args=k,v$/,
        outExpect: /rows lines=2 sum=4\.0000/,
      },
      {
        file: "wc",
        input: "text",
        data: "the quick brown fox\njumps\n",
        out: "count",
        expect: /^words=5 argc=3$/,
        outExpect: /^5\n$/,
      },
      {
        file: "sum.jar",
        input: "numbers",
        data: "40\n2\n",
        out: undefined,
        expect: /^sum=42 args=k,v$/,
        outExpect: undefined,
      },
    ];
    const ids: string[] = [];
    for (const c of cases) {
      const fn = await users.fo!.registerFunction({
        name: c.file,
        executorType: "libos",
        payload: readFileSync(join(dir, c.file)),
        arguments: [{ key: "k", defaultValue: "", allowOverwrite: true }],
        inputs: [{ name: c.input, description: "", optional: false }],
        outputs: c.out ? [{ name: c.out, description: "", optional: false }] : [],
      });
      const inId = await input("alice", `${c.file}-in`, Buffer.from(c.data));
      const out = c.out ? await output("alice", `${c.file}-${c.out}`) : undefined;
      const task = await users.alice!.createTask({
        functionId: fn,
        executor: "libos",
        arguments: { k: "v" },
        inputsOwnership: [{ dataName: c.input, uids: ["alice"] }],
        outputsOwnership: c.out ? [{ dataName: c.out, uids: ["alice"] }] : [],
      });
      await users.alice!.assignData(task, { [c.input]: inId }, c.out && out ? { [c.out]: out.id } : {});
      await users.alice!.invokeTask(task);
      const r = (await users.alice!.taskResult(task, { timeoutMs: 120_000 })).toString("utf8");
      assert.match(r, c.expect, c.file);
      if (out && c.outExpect) assert.match(await decrypt("alice", out.path), c.outExpect);
      ids.push(task);
    }
    const trust = runtimeTrustFromDataDir(platform.dataDir);
    const own = JSON.parse((await users.alice!.taskEvidence(ids[0]!))!.toString("utf8")) as TaskEvidence;
    assert.equal(
      verifyTaskEvidence(own, trust, { taskId: ids[0]!.replace(/^task-/, "") }).runtime,
      "libos_gvisor_static",
    );
    assert.ok(evidenceOfFirst, "the first test's evidence");
    assert.throws(
      () => verifyTaskEvidence(evidenceOfFirst!, trust, { taskId: ids[1]!.replace(/^task-/, "") }),
      (e) => isLibosError(e, "evidence"),
    );
  });
});
