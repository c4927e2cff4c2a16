/**
 * Shared helpers of the authorisation-matrix, multi-party and interop end-to-end tests: sessions
 * per user, exact-status assertions, and real teaclave-file-128 files in the platform's file
 * exchange (`cloister up` confines file: URLs to `<data dir>/exchange/<user id>/`).
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { copyFile, mkdir, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { loadConfig } from "@cloister/config";
import { CloisterError, ERRORS } from "@cloister/core";
import { computeCmac, decryptBuffer, type FileCryptoInfo } from "@cloister/crypto";
import { openSealedStore } from "@cloister/host";
import { common } from "@cloister/proto";
import type { CloisterClient } from "@cloister/sdk";
import { AuthenticationService } from "@cloister/service-authentication";
import { CLI, client, FIXTURES, type Platform, platformConfig, startPlatform } from "../src/index.js";

export { client, FIXTURES };

/** The all-zero key the Teaclave fixtures were encrypted with. */
export const ZERO_KEY = Buffer.alloc(16);
export const ZERO_KEY_FILE: FileCryptoInfo = { schema: "teaclave-file-128", key: ZERO_KEY };
export const wireCrypto = (key: Buffer = ZERO_KEY) => ({
  schema: "teaclave-file-128",
  key,
  iv: Buffer.alloc(0),
});

export const fixture = (...parts: string[]) => join(FIXTURES, "functions", ...parts);

/** `cloister <args>` as a child process: its exit code and what it printed. */
export function runCli(
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { env }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

/** A client logged in as `id`. */
export async function session(platform: Platform, id: string, password = "pw"): Promise<CloisterClient> {
  const c = client(platform);
  await c.login(id, password);
  return c;
}

/** Asserts that `p` rejects with exactly this gRPC code and message. */
export async function rejectsWith(
  p: Promise<unknown>,
  code: number,
  message: string,
  what = "",
): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof CloisterError, `${what}: expected a CloisterError, got ${String(e)}`);
    assert.deepEqual({ code: e.code, message: e.message }, { code, message }, what);
    // Every status the platform answers is one failure of the catalog (docs/errors.md).
    assert.ok(e.kind, `${what}: ${code} ${JSON.stringify(message)} is in the error catalog`);
    assert.equal(ERRORS[e.kind].code, code, what);
    return true;
  });
}

/**
 * Writes a user account with role `Invalid` straight into the authentication service's sealed
 * store, as a legacy database could hold one; the API itself refuses to create such a role.
 * Must run while the platform is stopped.
 */
export async function seedInvalidUser(dataDir: string, id: string, password: string): Promise<void> {
  const config = loadConfig({ overrides: { data_dir: dataDir } });
  const store = await openSealedStore(config, "authentication");
  try {
    const auth = await AuthenticationService.open(store);
    await auth.users.create(id, password, { name: "Invalid", attribute: "" });
  } finally {
    await store.close();
  }
}

/**
 * `cloister up` on free ports. Free ports are picked before the platform binds them, so another
 * process on the machine can take one meanwhile; on EADDRINUSE new ports are picked and the start
 * retried (same data directory, so `seed` runs once and restarts keep their state).
 */
export async function launch(
  options: { dataDir?: string; seed?: (dataDir: string) => Promise<void> } = {},
): Promise<Platform> {
  const dataDir = options.dataDir ?? (await mkdtemp(join(tmpdir(), "cloister-e2e-")));
  await options.seed?.(dataDir);
  for (let attempt = 1; ; attempt++) {
    const setup = await platformConfig(dataDir);
    try {
      return await startPlatform(setup);
    } catch (e) {
      if (attempt >= 4 || !String(e).includes("EADDRINUSE")) throw e;
    }
  }
}

/**
 * Stops the whole platform and starts it again on the same data directory and configuration
 * (new ports only if another process took one meanwhile).
 */
export async function restart(platform: Platform): Promise<Platform> {
  await platform.stop();
  try {
    return await startPlatform({
      dataDir: platform.dataDir,
      configFile: platform.configFile,
      ports: platform.ports,
    });
  } catch (e) {
    if (!String(e).includes("EADDRINUSE")) throw e;
    return launch({ dataDir: platform.dataDir });
  }
}

/** The file exchange of a platform started by `cloister up`: each user's files in `<it>/<user id>/`. */
export const exchangeOf = (platform: Pick<Platform, "dataDir">) => join(platform.dataDir, "exchange");
export const removeDir = (dir: string) => rm(dir, { recursive: true, force: true });

/** Copies an encrypted fixture into `dir` (same basename) and returns its path and verified cmac. */
export async function stageFixture(
  dir: string,
  source: string,
  info: FileCryptoInfo = ZERO_KEY_FILE,
): Promise<{ path: string; url: string; cmac: Buffer }> {
  await mkdir(dir, { recursive: true });
  const path = join(dir, basename(source));
  await copyFile(source, path);
  const cmac = await computeCmac([await readFile(path)], info);
  return { path, url: `file://${path}`, cmac };
}

/** Decrypts an output the platform wrote (teaclave-file-128 stores the URL basename; it is checked). */
export async function readOutput(
  path: string,
  info: FileCryptoInfo = ZERO_KEY_FILE,
): Promise<{ plaintext: string; cmac: Buffer }> {
  const { plaintext, cmac } = await decryptBuffer(await readFile(path), info, { fileName: basename(path) });
  return { plaintext: plaintext.toString("utf8"), cmac };
}

export const statusName = (s: common.TaskStatus) => common.taskStatusToJSON(s);

/** Waits until `taskId` has status `want` (polling GetTask). */
export async function waitForStatus(
  c: CloisterClient,
  taskId: string,
  want: common.TaskStatus,
  timeoutMs = 30_000,
) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const t = await c.getTask(taskId);
    if (t.status === want) return t;
    if (Date.now() > deadline)
      assert.fail(`task ${taskId} is ${statusName(t.status)}, expected ${statusName(want)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

// ---- function and task shapes shared by the multi-party files -------------------------------

export const io = (names: string[]) => names.map((name) => ({ name, description: "", optional: false }));
export const arg = (key: string) => ({ key, defaultValue: "", allowOverwrite: true });

/** builtin-ordered-set-intersect as the Teaclave examples register it. */
export const PSI_FUNCTION = {
  name: "builtin-ordered-set-intersect",
  description: "Native Private Set Intersection",
  arguments: [arg("order")],
  inputs: io(["input_data1", "input_data2"]),
  outputs: io(["output_result1", "output_result2"]),
};

/** A PSI task whose input/output 1 belong to `first`, 2 to `second`. */
export const psiTask = (functionId: string, first: string, second: string) => ({
  functionId,
  arguments: { order: "ascending" },
  inputsOwnership: [
    { dataName: "input_data1", uids: [first] },
    { dataName: "input_data2", uids: [second] },
  ],
  outputsOwnership: [
    { dataName: "output_result1", uids: [first] },
    { dataName: "output_result2", uids: [second] },
  ],
});

/**
 * A data owner registers an encrypted fixture (all-zero key) as an input and a not-yet-existing
 * path under `home` as an output encrypted with its own `outputKey`.
 */
export async function registerData(
  c: CloisterClient,
  home: string,
  source: string,
  outName: string,
  outputKey: Buffer,
) {
  await mkdir(home, { recursive: true });
  const staged = await stageFixture(home, source);
  const input = await c.call("registerInputFile", {
    url: staged.url,
    cmac: staged.cmac,
    cryptoInfo: wireCrypto(),
  });
  const outPath = join(home, outName);
  const output = await c.call("registerOutputFile", {
    url: `file://${outPath}`,
    cryptoInfo: wireCrypto(outputKey),
  });
  return { input: input.dataId, output: output.dataId, outPath, cmac: staged.cmac };
}
