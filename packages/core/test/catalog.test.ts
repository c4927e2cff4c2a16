import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  CloisterError,
  cloisterError,
  ERRORS,
  type ErrorKind,
  errorKinds,
  errorText,
  hasKind,
  kindOf,
  Status,
  type StatusCode,
} from "../src/index.js";

/**
 * What Teaclave clients and the SDK examples observe on the wire (docs/contract.md, Error codes;
 * docs/decisions.md), written out literally: the catalog must produce exactly these, and
 * recognise them.
 */
const CONTRACT: Array<[code: number, text: string, kind: ErrorKind]> = [
  [16, "missing user id", "MISSING_USER_ID"],
  [16, "missing token", "MISSING_TOKEN"],
  [16, "incorrent credential", "INCORRECT_CREDENTIAL"],
  [16, "authentication failed", "AUTHENTICATION_FAILED"],
  [16, "user id exist", "USER_ID_EXISTS"],
  [16, "invalid user id", "INVALID_USER_ID"],
  [16, "invalid role", "INVALID_ROLE"],
  [16, "permission denied", "USER_PERMISSION_DENIED"],
  [7, "permission denied", "PERMISSION_DENIED"],
  [7, "access control error", "ACCESS_CONTROL_ERROR"],
  [3, "invalid task", "INVALID_TASK"],
  [3, "invalid function id", "INVALID_FUNCTION_ID"],
  [3, "invalid task id", "INVALID_TASK_ID"],
  [3, "invalid data id", "INVALID_DATA_ID"],
  [3, "invalid output file", "INVALID_OUTPUT_FILE"],
  [3, "Invalid executor type: cobol", "INVALID_EXECUTOR_TYPE"],
  [3, "Unsupported executor: cobol", "UNSUPPORTED_EXECUTOR"],
  [3, "Invalid length", "INVALID_CMAC_LENGTH"],
  [3, "Invalid key length for AesGcm128: 15", "INVALID_KEY_LENGTH"],
  [3, "RelativeUrlWithoutBase", "INVALID_URL"],
  [3, "Cannot convert to function arguments", "ARGUMENTS_NOT_OBJECT"],
  [3, "expected value at line 1 column 1", "ARGUMENTS_NOT_JSON"],
  [3, "audit log error, reason: failed to query logs limit 0", "AUDIT_QUERY_INVALID"],
  [2, "missing user role", "CALLER_ROLE_MISSING"],
  [2, "failed to invoke task", "INVOKE_FAILED"],
  [2, "failed to assign data to task", "ASSIGN_FAILED"],
  [2, "failed to approve task", "APPROVE_FAILED"],
  [2, "failed to cancel task, reason: task has already been canceled", "CANCEL_FAILED"],
  [2, "function quota has been used up", "QUOTA_USED_UP"],
  [2, "task queue is empty", "TASK_QUEUE_EMPTY"],
  [2, "task to pull has been canceled", "PULLED_TASK_CANCELED"],
  [13, "service internal error", "INTERNAL"],
  [13, "invalid response", "STORAGE_INVALID_RESPONSE"],
  [13, "invalid executor status", "INVALID_EXECUTOR_STATUS"],
  [13, "Cannot restore to Run from saved state", "CANNOT_RESTORE_RUN"],
  [13, 'Upadate_cmac: file not found. "out"', "RESULT_OUTPUT_UNKNOWN"],
  [8, "too many requests", "TOO_MANY_REQUESTS"],
  [3, "invalid request: message does not parse", "REQUEST_UNPARSABLE"],
  [3, "invalid request: field function_id is longer than 256", "FIELD_TOO_LONG"],
  [12, "Subscribe is not implemented", "SUBSCRIBE_UNIMPLEMENTED"],
];

/** A plausible value for each placeholder, shaped as its `params` pattern wants. */
function sample(kind: ErrorKind): Record<string, string> {
  const spec = ERRORS[kind] as { text: string; params?: Record<string, string> };
  const out: Record<string, string> = {};
  for (const [, name] of spec.text.matchAll(/\{([a-z]+)\}/g)) {
    const pattern = spec.params?.[name as string];
    out[name as string] =
      pattern === undefined
        ? "x y"
        : pattern.startsWith("[0-9]")
          ? "12"
          : pattern.includes("RelativeUrlWithoutBase")
            ? "EmptyHost"
            : "abc";
  }
  return out;
}

describe("error catalog", () => {
  test("the contract's wire codes and texts are the catalog's, and are recognised", () => {
    for (const [code, text, kind] of CONTRACT) {
      assert.equal(ERRORS[kind].code, code, `${kind} code`);
      assert.equal(kindOf(code, text), kind, `${code} ${JSON.stringify(text)}`);
      const e = new CloisterError(code as StatusCode, text);
      assert.equal(e.kind, kind, "an error built from a wire status knows its kind");
    }
    // Teaclave's texts are exactly these, typos included.
    assert.equal(ERRORS.INCORRECT_CREDENTIAL.text, "incorrent credential");
    assert.equal(ERRORS.USER_ID_EXISTS.text, "user id exist");
    assert.equal(ERRORS.RESULT_OUTPUT_UNKNOWN.text, "Upadate_cmac: file not found. {name}");
  });

  test("every kind raised with parameters is recognised again from its code and text", () => {
    for (const kind of errorKinds()) {
      const spec = ERRORS[kind] as { opaque?: true };
      if (kind === "NO_POLICY" || spec.opaque) continue;
      const text = errorText(kind, sample(kind));
      assert.equal(kindOf(ERRORS[kind].code, text), kind, `${kind}: ${text}`);
    }
  });

  test("no two kinds share a code and a fixed text (except NO_POLICY, which hides as a denial)", () => {
    const seen = new Map<string, ErrorKind>();
    for (const kind of errorKinds()) {
      if (kind === "NO_POLICY") continue;
      const key = `${ERRORS[kind].code} ${ERRORS[kind].text}`;
      assert.equal(seen.get(key), undefined, `${kind} duplicates ${seen.get(key)}`);
      seen.set(key, kind);
    }
    assert.equal(ERRORS.NO_POLICY.code, ERRORS.PERMISSION_DENIED.code);
    assert.equal(ERRORS.NO_POLICY.text, ERRORS.PERMISSION_DENIED.text);
  });

  test("cloisterError fills the text, sets code and kind; hasKind tests the kind only", () => {
    const e = cloisterError("INVALID_EXECUTOR_TYPE", { value: "cobol" });
    assert.equal(e.code, Status.INVALID_ARGUMENT);
    assert.equal(e.message, "Invalid executor type: cobol");
    assert.equal(e.kind, "INVALID_EXECUTOR_TYPE");
    assert.ok(hasKind(e, "INVALID_EXECUTOR_TYPE", "UNSUPPORTED_EXECUTOR"));
    assert.ok(!hasKind(e, "INVALID_TASK"));
    assert.ok(!hasKind(new Error("Invalid executor type: cobol"), "INVALID_EXECUTOR_TYPE"));
    const denial = cloisterError("NO_POLICY");
    assert.equal(denial.kind, "NO_POLICY");
    assert.equal(denial.message, "permission denied");
    assert.throws(() => errorText("INVALID_KEY_LENGTH", { schema: "AesGcm128" }), TypeError);
  });

  test("an unknown status keeps no kind", () => {
    assert.equal(kindOf(13, "something a legacy peer said"), undefined);
    assert.equal(kindOf(7, "missing token"), undefined, "the code is part of the kind");
    assert.equal(new CloisterError(Status.UNKNOWN, "something new").kind, undefined);
  });
});
