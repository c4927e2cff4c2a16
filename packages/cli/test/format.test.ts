import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { AttestationError, CloisterError, ConfigError, Status } from "@cloister/core";
import { common, frontend } from "@cloister/proto";
import { PlatformEndpointError } from "@cloister/sdk";
import { CommanderError } from "commander";
import { UsageError } from "../src/args.js";
import {
  auditView,
  codeName,
  errorView,
  exitCodeFor,
  fileView,
  formatAudit,
  formatError,
  formatFile,
  formatFunction,
  formatTask,
  functionView,
  ipText,
  listFormat,
  table,
  taskView,
} from "../src/format.js";

describe("errors", () => {
  test("platform errors print the legacy text, the gRPC code name and a plain-language hint", () => {
    const v = errorView(new CloisterError(Status.PERMISSION_DENIED, "permission denied"));
    assert.equal(v.message, "permission denied");
    assert.equal(v.code, 7);
    assert.equal(v.code_name, "PERMISSION_DENIED");
    assert.equal(v.kind, "PERMISSION_DENIED");
    assert.ok(v.hint);
    assert.equal(formatError(v), `cloister: permission denied (PERMISSION_DENIED) — ${v.hint}`);
    // Hints follow the kind, which the wire's code and text identify together.
    for (const [code, text] of [
      [Status.UNAUTHENTICATED, "user id exist"],
      [Status.UNKNOWN, "failed to invoke task"],
      [Status.INVALID_ARGUMENT, "invalid task"],
      [Status.UNAUTHENTICATED, "incorrent credential"],
      [Status.INVALID_ARGUMENT, "Invalid key length for AesGcm128: 15"],
    ] as const) {
      const view = errorView(new CloisterError(code, text));
      assert.equal(view.message, text, "the wire text is kept");
      assert.ok(view.hint, `${text} has a hint`);
    }
    const user = errorView(new CloisterError(Status.UNAUTHENTICATED, "permission denied"));
    assert.equal(user.kind, "USER_PERMISSION_DENIED");
    assert.notEqual(user.hint, v.hint, "the same text under another code is another failure");
    const plain = errorView(new CloisterError(Status.UNKNOWN, "something new"));
    assert.equal(plain.hint, undefined);
    assert.equal(formatError(plain), "cloister: something new (UNKNOWN)");
    assert.equal(codeName(13), "INTERNAL");
    assert.equal(codeName(42), "code 42");
  });

  test("exit codes: 2 for every usage error (commander's too), 0 after help/version, 1 otherwise", () => {
    assert.equal(exitCodeFor(new UsageError("x")), 2);
    assert.equal(exitCodeFor(new CommanderError(1, "commander.missingMandatoryOptionValue", "x")), 2);
    assert.equal(exitCodeFor(new CommanderError(0, "commander.version", "0.1.0")), 0);
    assert.equal(exitCodeFor(new CloisterError(Status.UNKNOWN, "x")), 1);
    assert.equal(exitCodeFor(new Error("x")), 1);
  });

  test("tables align columns and say when they are empty", () => {
    assert.equal(
      table(
        ["A", "LONGER"],
        [
          ["x", "1"],
          ["yyyy", "2"],
        ],
      ),
      "A     LONGER\nx     1\nyyyy  2",
    );
    assert.equal(table(["USER"], []), "USER\n(none)");
    assert.equal(listFormat(undefined, false), "table");
    assert.equal(listFormat("wide", false), "wide");
    assert.equal(listFormat("table", true), "json");
    assert.throws(() => listFormat("yaml", false), UsageError);
  });

  test("an attestation failure names the endpoint, the reason and the flags to check", () => {
    const e = new PlatformEndpointError(
      "attestation",
      "frontend",
      "localhost:7777",
      "Failed to verify mr_enclave",
    );
    assert.equal(
      formatError(errorView(e)),
      "cloister: the frontend at localhost:7777 failed attestation: Failed to verify mr_enclave; check --as-root-ca/--enclave-info (or --data-dir) point at the platform you mean to trust (UNAVAILABLE)",
    );
    const down = new PlatformEndpointError(
      "unreachable",
      "authentication service",
      "h:1",
      "connect ECONNREFUSED",
    );
    assert.match(
      formatError(errorView(down)),
      /cannot reach the authentication service at h:1: connect ECONNREFUSED; is the platform running\? check --authentication \(UNAVAILABLE\)$/,
    );
  });

  test("local mistakes have no gRPC code; usage errors exit 2, others 1", () => {
    assert.equal(
      formatError(errorView(new UsageError("--limit: must be between 1 and 10"))),
      "cloister: --limit: must be between 1 and 10",
    );
    assert.equal(formatError(errorView(new ConfigError("not logged in"))), "cloister: not logged in");
    assert.equal(formatError(errorView(new AttestationError("bad quote"))), "cloister: bad quote");
    assert.equal(exitCodeFor(new UsageError("x")), 2);
    assert.equal(exitCodeFor(new CloisterError(7, "permission denied")), 1);
  });
});

describe("views", () => {
  const task = frontend.GetTaskResponse.fromPartial({
    taskId: "task-1",
    creator: "alice",
    functionId: "function-1",
    functionOwner: "fo",
    functionArguments: '{"order":"ascending"}',
    inputsOwnership: [{ dataName: "in1", uids: ["alice"] }],
    outputsOwnership: [{ dataName: "out1", uids: ["alice", "bob"] }],
    participants: ["alice", "bob"],
    approvedUsers: ["alice"],
    assignedInputs: [{ dataName: "in1", dataId: "input-1" }],
    status: common.TaskStatus.Finished,
    result: {
      Ok: {
        returnValue: Buffer.from("3 common items"),
        tagsMap: { out1: Buffer.alloc(16, 0xab) },
        log: ["hello"],
      },
    },
  });

  test("a task in JSON uses wire field names, status names, text values and hex tags", () => {
    const v = taskView(task);
    assert.equal(v.status, "Finished");
    assert.deepEqual(v.function_arguments, { order: "ascending" });
    assert.deepEqual(v.inputs_ownership, { in1: ["alice"] });
    assert.deepEqual(v.assigned_inputs, { in1: "input-1" });
    assert.deepEqual(v.assigned_outputs, {});
    assert.deepEqual(v.result, {
      ok: { return_value: "3 common items", tags_map: { out1: "ab".repeat(16) }, log: ["hello"] },
    });
    const human = formatTask(v);
    assert.match(human, /^task-1: Finished/);
    assert.match(human, /output\s+out1 \(owners alice, bob\) ← not assigned/);
    assert.match(human, /result\s+3 common items/);
  });

  test("a failed and a pending task", () => {
    const failed = taskView({
      ...task,
      status: common.TaskStatus.Canceled,
      result: { Err: { reason: "Task canceled" } },
    });
    assert.deepEqual(failed.result, { err: { reason: "Task canceled" } });
    assert.match(formatTask(failed), /failure\s+Task canceled/);
    const pending = taskView({ ...task, status: common.TaskStatus.Created, result: {} });
    assert.equal(pending.result, null);
    assert.match(formatTask(pending), /result\s+not ready/);
  });

  test("a function shows its declaration but not its payload bytes", () => {
    const f = frontend.GetFunctionResponse.fromPartial({
      name: "builtin-echo",
      executorType: "builtin",
      owner: "fo",
      public: false,
      payload: Buffer.from("code"),
      arguments: [
        { key: "message", defaultValue: "", allowOverwrite: true },
        { key: "k", defaultValue: "v", allowOverwrite: false },
      ],
      inputs: [{ name: "in", description: "", optional: true }],
      userAllowlist: ["bank"],
    });
    const v = functionView(f, "function-9");
    assert.equal(v.payload_size, 4);
    assert.equal("payload" in v, false);
    assert.deepEqual(v.arguments[1], { key: "k", default_value: "v", allow_overwrite: false });
    const human = formatFunction(v);
    assert.match(human, /private \(allowed: bank\)/);
    assert.match(human, /arguments\s+message, k \(fixed\)=v/);
    assert.match(human, /inputs\s+in \(optional\)/);
  });

  test("files show owners and the cmac in hex, or that no output exists yet", () => {
    const v = fileView("output-1", { owner: ["a", "b"], cmac: Buffer.alloc(0) });
    assert.deepEqual(v, { data_id: "output-1", owner: ["a", "b"], cmac: "" });
    assert.match(formatFile(v), /none \(not produced yet\)/);
  });

  test("audit entries: ISO date, readable IP (IPv4-compatible shown as IPv4)", () => {
    const ip = Buffer.alloc(16);
    ip.set([127, 0, 0, 1], 12);
    const v = auditView({
      microsecond: 1_700_000_000_123_456,
      ip,
      user: "{ user: admin, role: PlatformAdmin }",
      message: "register_function",
      result: true,
    });
    assert.equal(v.date, "2023-11-14T22:13:20.123Z");
    assert.equal(v.ip, "127.0.0.1");
    assert.match(
      formatAudit([v]),
      /ok\s+127\.0\.0\.1\s+\{ user: admin, role: PlatformAdmin \}\s+register_function$/,
    );
    assert.equal(formatAudit([]), "no matching entries");
  });

  test("IPv6 addresses are compressed; ::1 stays IPv6", () => {
    const one = Buffer.alloc(16);
    one[15] = 1;
    assert.equal(ipText(one), "::1");
    assert.equal(ipText(Buffer.from("20010db8000000000000000000000001", "hex")), "2001:db8::1");
    assert.equal(ipText(Buffer.from("00000000000000000000ffff0a000001", "hex")), "10.0.0.1");
  });
});
