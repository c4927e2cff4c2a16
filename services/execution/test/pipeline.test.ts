import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { silentLogger } from "@cloister/core";
import { decryptBuffer, encryptBuffer, generateFileCryptoInfo } from "@cloister/crypto";
import { FileAgent } from "@cloister/file-agent";
import { type FileCrypto, type StagedTask, TaskId } from "@cloister/model";
import { DEFAULT_LIMITS, type ExecutionRequest, type Executor } from "@cloister/runtime";
import { cryptoCodec, ExecutorRegistry, type PipelineDeps, runStagedTask } from "../src/index.js";

/** Test executor: upper-cases input `in` into output `out`, returns argv joined. */
class UpperExecutor implements Executor {
  readonly accepts = [["builtin", "builtin"]] as const;
  async execute(req: ExecutionRequest): Promise<string> {
    if (req.functionName === "hang") {
      await new Promise((_, reject) => {
        if (req.signal.aborted) reject(req.signal.reason);
        req.signal.addEventListener("abort", () => reject(req.signal.reason));
      });
    }
    if (req.functionName === "skip-output") return "nothing written";
    const data = await req.runtime.readInput("in");
    await req.runtime.writeOutput("out", Buffer.from(data.toString().toUpperCase()));
    req.runtime.log("[INFO test] upper-cased");
    return (req.argv ?? []).join(",");
  }
}

const dir = mkdtempSync(join(tmpdir(), "pipeline-"));
const exchange = join(dir, "exchange");
const home = join(exchange, "u");
mkdirSync(home, { recursive: true });
const deps: PipelineDeps = {
  agent: new FileAgent({ fusionBaseDir: join(dir, "fusion"), exchangeDir: exchange }),
  codec: cryptoCodec,
  executors: new ExecutorRegistry([new UpperExecutor()]),
  limits: DEFAULT_LIMITS,
  log: silentLogger,
};

async function staged(name: string, args: Record<string, unknown> = {}) {
  const inInfo = generateFileCryptoInfo("aes-gcm-128") as FileCrypto;
  const { file, cmac } = await encryptBuffer(Buffer.from("hello world"), inInfo);
  const inPath = join(home, `${randomUUID()}.enc`);
  writeFileSync(inPath, file);
  const outInfo = generateFileCryptoInfo("teaclave-file-128") as FileCrypto;
  const outPath = join(home, `${randomUUID()}.out`);
  const task: StagedTask = {
    taskUuid: TaskId.create(),
    functionUuid: randomUUID(),
    userId: "u",
    executor: "builtin",
    executorType: "builtin",
    functionName: name,
    functionArguments: new Map(Object.entries(args)) as never,
    functionPayload: Buffer.alloc(0),
    inputData: new Map([["in", { url: `file://${inPath}`, cmac, crypto: inInfo, owners: ["u"] }]]),
    outputData: new Map([["out", { url: `file://${outPath}`, crypto: outInfo, owners: ["u"] }]]),
  };
  return { task, outPath, outInfo, inPath };
}

test("inputs are opened in memory, outputs sealed with their registered crypto and tagged", async () => {
  const { task, outPath, outInfo } = await staged("upper", { a: "1", save_log: "true" });
  const result = await runStagedTask(task, deps, new AbortController().signal);
  assert.equal(result.kind, "Ok");
  if (result.kind !== "Ok") return;
  assert.equal(result.returnValue.toString(), "a,1,save_log,true");
  assert.deepEqual(result.log, ["[INFO test] upper-cased"]);
  const sealed = readFileSync(outPath);
  const { plaintext, cmac } = await decryptBuffer(sealed, outInfo as never);
  assert.equal(plaintext.toString(), "HELLO WORLD");
  assert.deepEqual(result.tagsMap.get("out"), cmac);
});

test("a tampered input fails the task with the crypto layer's reason", async () => {
  const { task, inPath } = await staged("upper");
  const bytes = readFileSync(inPath);
  bytes[3]! ^= 1;
  writeFileSync(inPath, bytes);
  const result = await runStagedTask(task, deps, new AbortController().signal);
  assert.equal(result.kind, "Err");
  assert.equal((result as { reason: string }).reason, "Aead open_in_place error");
});

test("an output the function never wrote, an unknown executor pair and a raw output fail clearly", async () => {
  const a = await staged("skip-output");
  assert.deepEqual(await runStagedTask(a.task, deps, new AbortController().signal), {
    kind: "Err",
    reason: "Convert teaclave_file: failed to open src file",
  });
  const b = await staged("upper");
  b.task.executorType = "python";
  b.task.executor = "mesapy";
  assert.deepEqual(await runStagedTask(b.task, deps, new AbortController().signal), {
    kind: "Err",
    reason: "function not available: (Python, MesaPy)",
  });
  const c = await staged("upper");
  c.task.outputData.get("out")!.crypto = { schema: "raw" };
  assert.deepEqual(await runStagedTask(c.task, deps, new AbortController().signal), {
    kind: "Err",
    reason: "OutputFile: unsupported type",
  });
});

test("cancel aborts the running function and produces no result", async () => {
  const { task } = await staged("hang");
  const ac = new AbortController();
  const run = runStagedTask(task, deps, ac.signal);
  setImmediate(() => ac.abort(new Error("canceled")));
  await assert.rejects(run, /canceled/);
});

test("file: URLs are confined to their owners' exchange directories, for inputs and outputs", async () => {
  const a = await staged("upper");
  a.task.inputData.get("in")!.owners = ["someone-else"];
  assert.deepEqual(await runStagedTask(a.task, deps, new AbortController().signal), {
    kind: "Err",
    reason: "file URL outside its owner's directory",
  });
  const b = await staged("upper");
  b.task.outputData.get("out")!.owners = [];
  const result = await runStagedTask(b.task, deps, new AbortController().signal);
  assert.deepEqual(result, { kind: "Err", reason: "file URL outside its owner's directory" });
  assert.equal(existsSync(b.outPath), false);
});
