// A two-party private set intersection driven entirely through the `cloister` command, as
// real users would: an administrator creates accounts, a function owner publishes the builtin,
// two data owners encrypt and register their files, create, assign, approve and run the task,
// then fetch and decrypt their own results. Every call goes through attested channels.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { CLI, FIXTURES, type Platform, startPlatform } from "../src/index.js";

interface Run {
  code: number;
  stdout: string;
  /** stderr with the CLI's plain-language hints taken off, so the legacy text is compared exactly. */
  stderr: string;
  /** stderr as printed. */
  raw: string;
}

/** The hint the CLI appends to a platform error (` — …`) is checked on its own (see below). */
const withoutHints = (stderr: string) => stderr.replace(/ — [^\n]*/g, "");

let platform: Platform;
let work: string;

before(async () => {
  platform = await startPlatform();
  work = mkdtempSync(join(tmpdir(), "cloister-cli-e2e-"));
  for (const who of ["alice", "bob"]) mkdirSync(join(platform.dataDir, "exchange", who), { recursive: true });
});
after(async () => {
  await platform?.stop();
});

/** Each user has its own session file; `file` commands work offline and take none. */
const sessionFlag = (who: string, args: string[]) =>
  args[0] === "file" ? [] : ["--session", join(work, `${who}.session.json`)];

/** Runs `cloister --json …` as `who`. */
function run(who: string, ...args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [CLI, "--data-dir", platform.dataDir, "--json", ...args, ...sessionFlag(who, args)],
      { env: { ...process.env, CLOISTER_PASSWORD: "", CLOISTER_NEW_PASSWORD: "" } },
      (err, stdout, stderr) =>
        resolve({
          code: err ? ((err as { code?: number }).code ?? 1) : 0,
          stdout,
          stderr: withoutHints(stderr),
          raw: stderr,
        }),
    );
  });
}

/** Same, requiring success and parsing the JSON output. */
async function ok(who: string, ...args: string[]) {
  const r = await run(who, ...args);
  assert.equal(r.code, 0, `cloister ${args.join(" ")} failed: ${r.stderr}`);
  // biome-ignore lint/suspicious/noExplicitAny: JSON views of many shapes
  return JSON.parse(r.stdout) as any;
}

/** Without --json, as a person would see it. */
function human(who: string, ...args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [CLI, "--data-dir", platform.dataDir, ...args, ...sessionFlag(who, args)],
      (err, stdout, stderr) =>
        resolve({
          code: err ? ((err as { code?: number }).code ?? 1) : 0,
          stdout,
          stderr: withoutHints(stderr),
          raw: stderr,
        }),
    );
  });
}

const login = (who: string, password: string) =>
  // Endpoints are given once, at login; later commands reuse them from the session.
  ok(
    who,
    "user",
    "login",
    who,
    "--password",
    password,
    "--authentication",
    platform.authentication,
    "--frontend",
    platform.frontend,
  );

const PSI = join(FIXTURES, "functions", "ordered_set_intersect");

describe("the cloister CLI drives a two-party flow end to end", () => {
  test("cloister up says where each user's file exchange is and what the file agent may reach", () => {
    const exchange = join(platform.dataDir, "exchange");
    assert.ok(
      platform.output.some((l) => l.includes("file exchange") && l.includes(`${exchange}/<user id>/`)),
      platform.output.join("\n"),
    );
    assert.ok(platform.output.some((l) => l.includes("file agent may reach") && l.includes("127.0.0.0/8")));
  });

  test("accounts, function, data, task, results, audit, and the errors users see", async () => {
    // ---- the administrator creates the accounts ----
    const session = await login("admin", "teaclave");
    assert.equal(session.id, "admin");
    await ok("admin", "user", "register", "fo", "--role", "FunctionOwner", "--password", "fo-pw");
    await ok(
      "admin",
      "user",
      "register",
      "alice",
      "--role",
      "DataOwner",
      "--attribute",
      "a",
      "--password",
      "alice-pw",
    );
    await ok(
      "admin",
      "user",
      "register",
      "bob",
      "--role",
      "DataOwner",
      "--attribute",
      "b",
      "--password",
      "bob-pw",
    );
    await ok("admin", "user", "register", "mallory", "--role", "DataOwner", "--password", "m-pw");
    const users = await ok("admin", "user", "list");
    for (const id of ["admin", "alice", "bob", "fo", "mallory"])
      assert.ok(users.ids.includes(id), `${id} listed`);

    // ---- the function owner publishes the builtin PSI ----
    await login("fo", "fo-pw");
    const fn = await ok(
      "fo",
      "function",
      "register",
      "--name",
      "builtin-ordered-set-intersect",
      "--description",
      "PSI",
      "--argument",
      "order",
      "--input",
      "input_data1",
      "input_data2",
      "--output",
      "output_result1",
      "output_result2",
    );
    const functionId: string = fn.function_id;
    assert.match(functionId, /^function-/);
    const shown = await ok("fo", "function", "get", functionId);
    assert.equal(shown.name, "builtin-ordered-set-intersect");
    assert.equal(shown.owner, "fo");
    assert.equal(shown.public, true);
    assert.deepEqual(
      shown.inputs.map((i: { name: string }) => i.name),
      ["input_data1", "input_data2"],
    );
    assert.deepEqual((await ok("fo", "function", "list")).registered_functions, [functionId]);
    // update keeps what is not given and changes the description
    await ok("fo", "function", "update", functionId, "--description", "private set intersection");
    const updated = await ok("fo", "function", "get", functionId);
    assert.equal(updated.description, "private set intersection");
    assert.equal(updated.arguments[0].key, "order");

    // ---- each data owner encrypts its set and registers input and output ----
    await login("alice", "alice-pw");
    await login("bob", "bob-pw");
    const files: Record<string, { input: string; output: string; outInfo: string; outPath: string }> = {};
    for (const [who, set, schema] of [
      ["alice", "psi0.txt", "teaclave-file-128"],
      ["bob", "psi1.txt", "aes-gcm-128"],
    ] as const) {
      // file: URLs name files in the user's own exchange directory, which `cloister up` announces.
      const home = join(platform.dataDir, "exchange", who);
      const enc = join(home, `${set}.enc`);
      const inInfo = join(work, `${who}-in.json`);
      const encrypted = await ok(
        who,
        "file",
        "encrypt",
        join(PSI, set),
        enc,
        "--schema",
        schema,
        "--save-info",
        inInfo,
      );
      const input = await ok(who, "data", "register-input", "--url", `file://${enc}`, "--info", inInfo);
      assert.match(input.data_id, /^input-/);
      const got = await ok(who, "data", "get-input", input.data_id);
      assert.deepEqual(got, { data_id: input.data_id, owner: [who], cmac: encrypted.cmac });
      const outPath = join(home, "result.enc");
      const outInfo = join(work, `${who}-out.json`);
      const output = await ok(
        who,
        "data",
        "register-output",
        "--url",
        `file://${outPath}`,
        "--schema",
        "teaclave-file-128",
        "--save-info",
        outInfo,
      );
      assert.equal(output.crypto_info.key.length, 32, "a fresh 16-byte key was generated");
      assert.deepEqual(JSON.parse(readFileSync(outInfo, "utf8")), output.crypto_info);
      files[who] = { input: input.data_id, output: output.data_id, outInfo, outPath };
    }
    const a = files.alice!;
    const b = files.bob!;

    // ---- alice creates the task; both assign their data and approve; alice runs it ----
    const task = await ok(
      "alice",
      "task",
      "create",
      "--function",
      functionId,
      "--args",
      '{"order":"ascending"}',
      "--input-owner",
      "input_data1=alice",
      "--input-owner",
      "input_data2=bob",
      "--output-owner",
      "output_result1=alice",
      "--output-owner",
      "output_result2=bob",
    );
    const taskId: string = task.task_id;
    await ok(
      "alice",
      "task",
      "assign",
      taskId,
      "--input",
      `input_data1=${a.input}`,
      "--output",
      `output_result1=${a.output}`,
    );
    await ok(
      "bob",
      "task",
      "assign",
      taskId,
      "--input",
      `input_data2=${b.input}`,
      "--output",
      `output_result2=${b.output}`,
    );
    const assigned = await ok("bob", "task", "get", taskId);
    assert.equal(assigned.status, "DataAssigned");
    assert.deepEqual(assigned.participants.sort(), ["alice", "bob"]);
    await ok("alice", "task", "approve", taskId);
    await ok("bob", "task", "approve", taskId);
    assert.equal((await ok("alice", "task", "get", taskId)).status, "Approved");
    await ok("alice", "task", "invoke", taskId);
    const result = await ok("alice", "task", "result", taskId, "--timeout", "60");
    assert.equal(result.return_value, "3 common items");
    assert.deepEqual(Object.keys(result.tags).sort(), ["output_result1", "output_result2"]);
    const finished = await ok("bob", "task", "get", taskId);
    assert.equal(finished.status, "Finished");
    assert.equal(finished.result.ok.return_value, "3 common items");

    // ---- each owner fetches and decrypts only its own result, checked against the task's tag ----
    for (const [who, f, name, expected] of [
      ["alice", a, "output_result1", "0101010"],
      ["bob", b, "output_result2", "01101"],
    ] as const) {
      const out = await ok(who, "data", "get-output", f.output);
      assert.equal(out.cmac, result.tags[name]);
      const plain = join(work, `${who}-result.txt`);
      await ok(who, "file", "fetch", `file://${f.outPath}`, plain, "--info", f.outInfo, "--cmac", out.cmac);
      assert.equal(readFileSync(plain, "utf8"), expected);
    }
    // a produced output becomes an input (same uuid); moving an input gives a new id
    const reused = await ok("alice", "data", "from-output", a.output);
    assert.equal(reused.data_id, a.output.replace(/^output-/, "input-"));
    const moved = await ok("alice", "data", "update-input", a.input, "--url", "https://example.com/psi0.enc");
    assert.notEqual(moved.data_id, a.input);
    const fusion = await ok("alice", "data", "fusion", "--owner", "alice", "bob");
    assert.deepEqual((await ok("bob", "data", "get-output", fusion.data_id)).owner.sort(), ["alice", "bob"]);
    const movedOut = await ok(
      "bob",
      "data",
      "update-output",
      b.output,
      "--url",
      "https://example.com/out.enc",
    );
    assert.deepEqual((await ok("bob", "data", "get-output", movedOut.data_id)).cmac, "");

    // usage stats count the invocation
    const usage = await ok("alice", "function", "usage", functionId);
    assert.deepEqual(usage, { function_id: functionId, function_quota: -1, current_usage: 1 });

    // ---- the audit log records the function registration (shipped to management within ~1 s) ----
    let entries: Array<{ message: string; user: string; result: boolean; date: string }> = [];
    for (let i = 0; i < 40 && entries.length === 0; i++) {
      entries = await ok("admin", "audit", "query", "message:register_function", "--limit", "10");
      if (entries.length === 0) await new Promise((r) => setTimeout(r, 250));
    }
    assert.ok(entries.length >= 1, "register_function was audited");
    assert.ok(entries.some((e) => e.message === "register_function" && e.result && e.user.includes("fo")));
    assert.ok(!Number.isNaN(Date.parse(entries[0]!.date)));
    const text = await human("admin", "audit", "query", "message:register_function", "--limit", "1");
    assert.equal(text.code, 0);
    assert.match(text.stdout, /ok\s+\S+\s+.*fo.*register_function/);

    // ---- errors as users see them: message, gRPC code name, non-zero exit ----
    const wrong = await run(
      "alice",
      "user",
      "login",
      "alice",
      "--password",
      "wrong",
      "--authentication",
      platform.authentication,
    );
    assert.equal(wrong.code, 1);
    assert.equal(wrong.stderr, "cloister: authentication failed (UNAUTHENTICATED)\n");
    const wrongJson = JSON.parse(wrong.stdout).error;
    assert.deepEqual(
      { message: wrongJson.message, code: wrongJson.code, code_name: wrongJson.code_name },
      { message: "authentication failed", code: 16, code_name: "UNAUTHENTICATED" },
    );
    assert.match(wrongJson.hint, /user login/, "a plain-language hint beside the legacy text");
    assert.match(wrong.raw, /^cloister: authentication failed \(UNAUTHENTICATED\) — .*user login/);

    const denied = await human(
      "bob",
      "function",
      "register",
      "--name",
      "builtin-echo",
      "--argument",
      "message",
    );
    assert.equal(denied.code, 1);
    assert.equal(denied.stderr, "cloister: permission denied (PERMISSION_DENIED)\n");
    assert.equal(denied.stdout, "");
    const notAdmin = await run("alice", "audit", "query", "*");
    assert.equal(notAdmin.code, 1);
    assert.equal(notAdmin.stderr, "cloister: permission denied (PERMISSION_DENIED)\n");
    const notParticipant = await run("mallory", "task", "get", taskId);
    assert.equal(notParticipant.code, 1, "mallory is not logged in yet");
    assert.match(notParticipant.stderr, /not logged in/);
    await login("mallory", "m-pw");
    assert.equal(
      (await run("mallory", "task", "get", taskId)).stderr,
      "cloister: permission denied (PERMISSION_DENIED)\n",
    );
    assert.equal(
      (await run("alice", "task", "get", "task-nope")).stderr,
      "cloister: invalid task id (INVALID_ARGUMENT)\n",
    );
    assert.equal(
      (await run("alice", "task", "approve", taskId)).stderr,
      "cloister: failed to approve task (UNKNOWN)\n",
    );

    // a platform whose measurements we do not trust: the refusal names the endpoint and the fix
    const badInfo = join(work, "bad_enclave_info.toml");
    writeFileSync(
      badInfo,
      readFileSync(join(platform.dataDir, "enclave_info.toml"), "utf8").replace(
        /mr_enclave = "[0-9a-f]+"/g,
        `mr_enclave = "${"00".repeat(32)}"`,
      ),
    );
    const untrusted = await human("alice", "task", "get", taskId, "--enclave-info", badInfo);
    assert.equal(untrusted.code, 1);
    assert.match(
      untrusted.stderr,
      new RegExp(
        `^cloister: the frontend at ${platform.frontend} failed attestation: .+; check --as-root-ca/--enclave-info .*\\(UNAVAILABLE\\)\\n$`,
      ),
    );

    // ---- account management ----
    const reset = await ok("admin", "user", "reset-password", "bob");
    assert.match(reset.password, /^[0-9a-f]{32}$/);
    await login("bob", reset.password);
    await ok("bob", "user", "passwd", "--password", "bob-new");
    await login("bob", "bob-new");
    await ok(
      "admin",
      "user",
      "update",
      "mallory",
      "--role",
      "DataOwner",
      "--attribute",
      "b",
      "--password",
      "m2",
    );
    await login("mallory", "m2");
    await ok("admin", "user", "delete", "mallory");
    assert.equal(
      (await run("mallory", "task", "get", taskId)).stderr,
      "cloister: incorrent credential (UNAUTHENTICATED)\n",
    );
    const out = await ok("mallory", "user", "logout");
    assert.equal(out.removed, true);

    // ---- function lifecycle: cancel a task, disable and delete the function ----
    const echo = await ok(
      "admin",
      "function",
      "register",
      "--name",
      "builtin-echo",
      "--argument",
      "message",
      "--usage-quota",
      "5",
    );
    const t2 = await ok(
      "admin",
      "task",
      "create",
      "--function",
      echo.function_id,
      "--args",
      '{"message":"hi"}',
    );
    await ok("admin", "task", "cancel", t2.task_id);
    const canceled = await ok("admin", "task", "get", t2.task_id);
    assert.equal(canceled.status, "Canceled");
    assert.deepEqual(canceled.result, { err: { reason: "Task canceled" } });
    const failedResult = await run("admin", "task", "result", t2.task_id);
    assert.equal(failedResult.code, 1);
    assert.match(failedResult.stderr, /Task canceled/);
    assert.deepEqual(await ok("admin", "function", "usage", echo.function_id), {
      function_id: echo.function_id,
      function_quota: 5,
      current_usage: 0,
    });
    await ok("admin", "function", "disable", echo.function_id);
    await ok("admin", "function", "delete", echo.function_id);
    assert.equal(
      (await run("admin", "function", "get", echo.function_id)).stderr,
      "cloister: invalid function id (INVALID_ARGUMENT)\n",
    );
    await ok("admin", "user", "logout");
  });

  test("scripting, contexts, waiting, status and doctor, as a daily user meets them", async () => {
    const config = mkdtempSync(join(tmpdir(), "cloister-contexts-"));
    const elsewhere = mkdtempSync(join(tmpdir(), "cloister-elsewhere-"));
    // No --session: logins go to named contexts in CLOISTER_CONFIG_DIR; run from a directory
    // with no .cloister in it, so trust comes only from flags or the context.
    const sh = (args: string[], extra: string[] = []): Promise<Run> =>
      new Promise((resolve) => {
        execFile(
          process.execPath,
          [CLI, ...extra, ...args],
          {
            cwd: elsewhere,
            env: { ...process.env, CLOISTER_CONFIG_DIR: config, CLOISTER_SESSION: "", CLOISTER_HOME: "" },
          },
          (err, stdout, stderr) =>
            resolve({
              code: err ? ((err as { code?: number }).code ?? 1) : 0,
              stdout,
              stderr: withoutHints(stderr),
              raw: stderr,
            }),
        );
      });
    const must = async (args: string[], extra: string[] = []) => {
      const r = await sh(args, extra);
      assert.equal(r.code, 0, `cloister ${args.join(" ")}: ${r.raw}`);
      return r.stdout;
    };

    const login = await sh(
      [
        "user",
        "login",
        "admin",
        "--password",
        "teaclave",
        "--authentication",
        platform.authentication,
        "--frontend",
        platform.frontend,
      ],
      ["--data-dir", platform.dataDir],
    );
    assert.equal(login.code, 0, login.raw);
    assert.match(login.stdout, new RegExp(`context ${platform.frontend}`));
    assert.equal((await must(["context", "current"])).trim(), platform.frontend);
    const contexts = JSON.parse(await must(["context", "list", "-o", "json"]));
    assert.equal(contexts.length, 1);
    assert.equal(contexts[0].current, true);
    assert.equal(contexts[0].user, "admin");
    assert.equal(contexts[0].as_root_ca, join(platform.dataDir, "as_root_ca.pem"));
    assert.match(await must(["context", "list"]), /^CURRENT\s+NAME\s+FRONTEND\s+USER\n\*\s+/);

    // From any directory, with nothing but the context: stdout carries only the result.
    const fn = (
      await must(["function", "register", "--name", "builtin-echo", "--argument", "message"])
    ).trim();
    assert.match(fn, /^function-[0-9a-f-]+$/);
    const task = (await must(["task", "create", "--function", fn, "--args", '{"message":"hello"}'])).trim();
    assert.match(task, /^task-[0-9a-f-]+$/);
    await must(["task", "invoke", task]);
    assert.equal(await must(["task", "result", task, "--timeout", "60"]), "hello\n");
    assert.match(await must(["user", "list"]), /^USER\n(.+\n)*admin\n/);

    // A second invoke is refused with the legacy text and a plain-language hint.
    const again = await sh(["task", "invoke", task]);
    assert.equal(again.code, 1);
    assert.equal(again.stderr, "cloister: failed to invoke task (UNKNOWN)\n");
    assert.match(again.raw, / — the task is not ready: .*assigned.*approve/);

    // Waiting on a task nobody invoked times out saying what it waits for.
    const idle = (await must(["task", "create", "--function", fn, "--args", '{"message":"x"}'])).trim();
    const waited = await sh(["task", "result", idle, "--timeout", "1"]);
    assert.equal(waited.code, 1);
    assert.match(
      waited.stderr,
      /has not ended after 1 s \(status Created\); waiting for admin \(its creator\) to invoke it/,
    );

    // Executor names: python is accepted (sent as its legacy name mesapy), nonsense is a usage error.
    const py = await sh([
      "task",
      "create",
      "--function",
      fn,
      "--executor",
      "python",
      "--args",
      '{"message":"p"}',
    ]);
    assert.equal(py.code, 0, py.raw);
    // Arguments: a declared default fills a missing one; one without a default is named.
    const noArg = await sh(["task", "create", "--function", fn]);
    assert.equal(noArg.code, 2);
    assert.match(noArg.stderr, /--args: give message/);
    const withDefault = (
      await must(["function", "register", "--name", "builtin-echo", "--argument", "message=hi there"])
    ).trim();
    const defaulted = (await must(["task", "create", "--function", withDefault])).trim();
    await must(["task", "invoke", defaulted]);
    assert.equal(await must(["task", "result", defaulted, "--timeout", "60"]), "hi there\n");
    const bad = await sh(["task", "create", "--function", fn, "--executor", "cobol"]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--executor.*expected one of builtin, python, python3, wamr, javascript/);
    const missing = await sh(["task", "create"]);
    assert.equal(missing.code, 2, "commander's missing-option error is a usage error too");

    // status and doctor, against this platform's configuration.
    const status = await sh(
      ["--json", "--config", platform.configFile, "status"],
      ["--data-dir", platform.dataDir],
    );
    assert.equal(status.code, 0, status.raw);
    const view = JSON.parse(status.stdout);
    assert.equal(view.tee, "simulated");
    assert.equal(view.services.length, 7);
    assert.ok(view.services.every((x: { state: string }) => x.state === "up"));
    const doctor = await sh(
      ["--json", "--config", platform.configFile, "doctor"],
      ["--data-dir", platform.dataDir],
    );
    const report = JSON.parse(doctor.stdout);
    const failed = report.checks.filter((c: { ok: boolean }) => !c.ok);
    assert.deepEqual(failed, [], "every doctor check passes against a running platform");
    assert.equal(doctor.code, 0);
    // A data directory that does not exist: each failed check carries a fix; exit 1.
    const sick = await sh(["--json", "doctor"], ["--data-dir", join(elsewhere, "nowhere")]);
    assert.equal(sick.code, 1);
    const sickChecks = JSON.parse(sick.stdout).checks as Array<{ check: string; ok: boolean; fix?: string }>;
    const dataDir = sickChecks.find((c) => c.check === "data directory")!;
    assert.equal(dataDir.ok, false);
    assert.match(dataDir.fix!, /npm start|cloister up/);
    assert.ok(sickChecks.filter((c) => !c.ok).every((c) => c.fix));

    await must(["user", "logout"]);
    assert.match((await sh(["user", "list"])).stderr, /not logged in/);
  });
});
