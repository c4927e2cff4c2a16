import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import { loadConfig } from "@cloister/config";
import { CloisterError } from "@cloister/core";
import { enclaveName, loadPlatformTrust, measureOwnCode, policyFor, verifierFor } from "@cloister/host";
import { common, management } from "@cloister/proto";
import { attestedChannelCredentials, callUnary, createClient, identityMetadata } from "@cloister/rpc";
import { CloisterClient, trustFromDataDir } from "@cloister/sdk";
import { AttestedIdentity, SimAttestationService, SimTeeProvider } from "@cloister/tee";
import {
  CLI,
  echo,
  type Platform,
  PYTHON_CLIENT,
  client as platformClient,
  runPython,
  startPlatform,
} from "../src/index.js";

const run = promisify(execFile);
let platform: Platform;

before(async () => {
  platform = await startPlatform();
});
after(async () => {
  await platform?.stop();
});

const client = () => platformClient(platform);

describe("the platform end to end (issue: foundation)", () => {
  test("builtin-echo runs through all seven services, every hop attested (TypeScript SDK)", async () => {
    const c = client();
    try {
      await c.login("admin", "teaclave");
      assert.equal(await echo(c, "Hello, Cloister!"), "Hello, Cloister!");
      const tasks = await Promise.all(["a", "b", "c", "d"].map((m) => echo(c, m)));
      assert.deepEqual(tasks, ["a", "b", "c", "d"]);
    } finally {
      c.close();
    }
  });

  test("interop: the same flow from Python gRPC C-core, attestation checked as the Teaclave Python SDK does", async () => {
    const { stdout } = await runPython(PYTHON_CLIENT, platform);
    const out = JSON.parse(stdout);
    assert.equal(out.auth_attestation.status, "OK");
    assert.match(out.frontend_attestation.mr_enclave, /^[0-9a-f]{64}$/);
    assert.deepEqual(out.bad_login, { code: 16, details: "authentication failed" });
    assert.deepEqual(out.unknown_method, { code: 12 });
    assert.equal(out.task_status, common.TaskStatus.Finished);
    assert.equal(out.result_present, true);
    assert.equal(out.return_value, "Hello from C-core");
  });

  test("the Python client refuses a platform whose measurement it does not expect", async () => {
    const { stdout } = await runPython(PYTHON_CLIENT, platform, "--wrong-enclave-info").catch(
      (e: { stdout: string }) => e,
    );
    assert.deepEqual(JSON.parse(stdout), { attestation_error: "Failed to verify mr_enclave" });
  });

  test("a TypeScript client expecting another mr_enclave is refused before it sends a request", async () => {
    const trust = trustFromDataDir(platform.dataDir);
    const info = trust.enclaveInfo.teaclave_authentication_service!;
    trust.enclaveInfo.teaclave_authentication_service = { ...info, mrEnclave: "00".repeat(32) };
    const c = new CloisterClient({
      authentication: platform.authentication,
      frontend: platform.frontend,
      trust,
    });
    try {
      await assert.rejects(c.login("admin", "teaclave"), (e: unknown) => {
        assert.ok(e instanceof CloisterError);
        assert.equal(e.code, 14);
        assert.match(e.message, /attestation/);
        return true;
      });
    } finally {
      c.close();
    }
  });

  test("`cloister attest` prints the verified measurement, the signer and that the evidence is simulated", async () => {
    const { stdout } = await run(process.execPath, [
      CLI,
      "--data-dir",
      platform.dataDir,
      "--json",
      "attest",
      platform.frontend,
    ]);
    const view = JSON.parse(stdout);
    const trust = trustFromDataDir(platform.dataDir);
    // The default topology runs the frontend in the control-plane process: one measurement, six names.
    assert.ok(view.enclaves.includes("teaclave_frontend_service"), view.enclave);
    assert.equal(view.mr_enclave, trust.enclaveInfo.teaclave_frontend_service!.mrEnclave);
    assert.equal(view.mr_signer, trust.enclaveInfo.teaclave_frontend_service!.mrSigner);
    assert.equal(view.simulated, true);
    assert.equal(view.quote_status, "OK");
  });

  test("the cloister CLI: login, register a function, create, invoke and read a task's result", async () => {
    const session = join(platform.dataDir, "cli-session.json");
    const cli = async (...args: string[]) =>
      (await run(process.execPath, [CLI, "--data-dir", platform.dataDir, "--json", ...args])).stdout;
    const endpoint = [
      "--authentication",
      platform.authentication,
      "--frontend",
      platform.frontend,
      "--session",
      session,
    ];
    await cli("user", "login", "admin", "--password", "teaclave", ...endpoint);
    const fn = JSON.parse(
      await cli("function", "register", "--name", "builtin-echo", "--argument", "message", ...endpoint),
    );
    const task = JSON.parse(
      await cli(
        "task",
        "create",
        "--function",
        fn.function_id,
        "--args",
        '{"message":"from the CLI"}',
        ...endpoint,
      ),
    );
    await cli("task", "invoke", task.task_id, ...endpoint);
    const result = JSON.parse(await cli("task", "result", task.task_id, ...endpoint));
    assert.equal(result.return_value, "from the CLI");
    // The auditor signature `cloister up` wrote verifies with the CLI, as the legacy tool's did.
    const auditors = join(platform.dataDir, "auditors");
    const { stdout } = await run(process.execPath, [
      CLI,
      "enclave-info",
      "verify",
      "--enclave-info",
      join(platform.dataDir, "enclave_info.toml"),
      "--public-keys",
      join(auditors, "cloister_local_auditor.public.pem"),
      "--signatures",
      join(auditors, "cloister_local_auditor.sign.sha256"),
    ]);
    assert.equal(stdout.trim(), "Verify successfully.");
  });

  test("internal endpoints refuse a peer outside their table and a peer with no client certificate", async () => {
    const config = loadConfig({ file: platform.configFile, overrides: { data_dir: platform.dataDir } });
    const trust = loadPlatformTrust(config, { verifyAuditors: true });
    const verifyServer = verifierFor(policyFor(trust, [enclaveName("management")]));
    const identityOf = async (service: "execution" | "frontend") =>
      AttestedIdentity.create({
        provider: await SimTeeProvider.create({
          mrEnclave: measureOwnCode(service, config.topology),
          dataDir: config.data_dir,
        }),
        attestationService: await SimAttestationService.loadOrCreate(config.data_dir),
      });
    const address = `localhost:${platform.ports.management}`;
    const call = async (identity?: AttestedIdentity) => {
      const creds = attestedChannelCredentials(identity ? { verifyServer, identity } : { verifyServer });
      const mgmt = createClient(management.TeaclaveManagementClient, address, creds);
      try {
        return await callUnary(
          mgmt,
          "getFunction",
          { functionId: "function-x" },
          {
            metadata: identityMetadata({ id: "admin", role: "PlatformAdmin" }),
            deadlineMs: 10_000,
          },
        );
      } finally {
        mgmt.close();
      }
    };
    // An attested execution node is a genuine platform service, but not one management serves.
    // (Under the combined topology the scheduler shares the frontend's process and measurement.)
    const outsider = await identityOf("execution");
    const frontend = await identityOf("frontend");
    try {
      await assert.rejects(call(outsider), (e: unknown) => e instanceof CloisterError && e.code === 14);
      await assert.rejects(call(undefined), (e: unknown) => e instanceof CloisterError && e.code === 14);
      // The frontend is in management's table: the call reaches the handler (and fails there).
      await assert.rejects(
        call(frontend),
        (e: unknown) => e instanceof CloisterError && e.code === 3 && e.message === "invalid function id",
      );
    } finally {
      outsider.close();
      frontend.close();
    }
  });

  test("forged tokens and tokens of another user are refused by the frontend", async () => {
    const c = client();
    try {
      const token = await c.login("admin", "teaclave");
      await c.registerUser("alice", "pw", "DataOwner", "bank");
      const forged = `${token.slice(0, token.lastIndexOf(".") + 1)}${Buffer.alloc(64, 1).toString("base64url")}`;
      for (const session of [
        { id: "admin", token: forged },
        { id: "alice", token },
        { id: "admin", token: "not-a-jwt" },
      ]) {
        c.session = session;
        await assert.rejects(c.getTask("task-00000000-0000-0000-0000-000000000000"), (e: unknown) => {
          assert.ok(e instanceof CloisterError);
          assert.equal(e.code, 16);
          assert.equal(e.message, "incorrent credential");
          return true;
        });
      }
    } finally {
      c.close();
    }
  });
});
