// How sandbox errors become task failure reasons (never quoting untrusted worker text).
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { TaskFailure } from "@cloister/runtime";
import {
  SandboxAbortedError,
  SandboxCrashedError,
  SandboxJobError,
  SandboxTimeoutError,
} from "@cloister/sandbox";
import { sandboxFailure } from "../src/sandboxed.js";

describe("sandboxFailure", () => {
  it("maps each sandbox outcome to a clear reason", () => {
    const reason = (e: unknown) => {
      const f = sandboxFailure(e);
      assert.ok(f instanceof TaskFailure);
      return f.message;
    };
    assert.equal(reason(new SandboxTimeoutError(10)), "time limit exceeded");
    assert.equal(reason(new SandboxAbortedError()), "Task Canceled by the user");
    assert.equal(reason(new SandboxCrashedError(null, "SIGXCPU")), "time limit exceeded");
    assert.equal(reason(new SandboxCrashedError(null, "SIGTRAP")), "memory limit exceeded");
    assert.equal(reason(new SandboxCrashedError(null, "SIGSEGV")), "execution crashed (signal SIGSEGV)");
    assert.equal(reason(new SandboxCrashedError(3, null)), "execution crashed (unexpected exit)");
    assert.equal(
      reason(new SandboxJobError("secret-looking text from the worker")),
      "execution failed: the sandboxed worker failed",
    );
  });
});
