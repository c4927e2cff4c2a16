import assert from "node:assert/strict";
import { test } from "node:test";
import { CloisterError, Status } from "@cloister/core";
import { describeCallError, PlatformEndpointError } from "../src/index.js";

test("an attestation refusal names the endpoint and the reason", () => {
  const raw = new CloisterError(
    Status.UNAVAILABLE,
    "No connection established. Last error: AttestationError: server attestation rejected: Failed to verify mr_enclave. Resolution note: ",
  );
  const e = describeCallError(raw, "frontend", "localhost:7777");
  assert.ok(e instanceof PlatformEndpointError);
  assert.equal(e.failure, "attestation");
  assert.equal(e.kind, "ENDPOINT_ATTESTATION_FAILED");
  assert.equal(e.code, Status.UNAVAILABLE);
  assert.equal(e.reason, "Failed to verify mr_enclave");
  assert.equal(e.message, "the frontend at localhost:7777 failed attestation: Failed to verify mr_enclave");
});

test("a refused connection says the endpoint cannot be reached", () => {
  const raw = new CloisterError(
    Status.UNAVAILABLE,
    "No connection established. Last error: Error: connect ECONNREFUSED 127.0.0.1:7777. Resolution note: ",
  );
  const e = describeCallError(raw, "frontend", "localhost:7777");
  assert.ok(e instanceof PlatformEndpointError);
  assert.equal(e.failure, "unreachable");
  assert.equal(e.kind, "ENDPOINT_UNREACHABLE");
  assert.equal(e.message, "cannot reach the frontend at localhost:7777: connect ECONNREFUSED 127.0.0.1:7777");
});

test("the platform's own errors pass through unchanged", () => {
  const denied = new CloisterError(Status.PERMISSION_DENIED, "permission denied");
  assert.equal(describeCallError(denied, "frontend", "x:1"), denied);
  const plain = new Error("boom");
  assert.equal(describeCallError(plain, "frontend", "x:1"), plain);
});
