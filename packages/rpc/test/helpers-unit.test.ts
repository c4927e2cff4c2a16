import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { CloisterError, ConfigError, Status, silentLogger } from "@cloister/core";
import * as grpc from "@grpc/grpc-js";
import {
  dialTarget,
  INTERNAL_ERROR_MESSAGE,
  identityMetadata,
  metadataValue,
  parseHostPort,
  readIdentityMetadata,
  toRpcError,
  toServiceError,
} from "../src/index.js";

describe("identity metadata", () => {
  test("reads id, token and role", () => {
    const md = new grpc.Metadata();
    md.set("id", "alice");
    md.set("token", "eyJ.abc.def");
    md.set("role", "DataOwner-bank");
    assert.deepEqual(readIdentityMetadata(md), { id: "alice", token: "eyJ.abc.def", role: "DataOwner-bank" });
  });

  test("keys are matched lowercase; empty and non-visible-ASCII values are missing", () => {
    // As received from the wire (grpc-js itself refuses to send such values).
    const md = grpc.Metadata.fromHttp2Headers({ id: "bob", token: "", role: "caf\u00e9" });
    assert.deepEqual(readIdentityMetadata(md), { id: "bob" });
    assert.equal(metadataValue(md, "Id"), "bob");
    const ctl = grpc.Metadata.fromHttp2Headers({ id: "a\u0001b" });
    assert.equal(metadataValue(ctl, "id"), undefined);
    assert.deepEqual(readIdentityMetadata(new grpc.Metadata()), {});
  });

  test("identityMetadata builds outgoing metadata and skips undefined", () => {
    const md = identityMetadata({ id: "u", role: "PlatformAdmin" });
    assert.deepEqual(md.getMap(), { id: "u", role: "PlatformAdmin" });
  });
});

describe("errors", () => {
  test("CloisterError keeps its code and text", () => {
    const e = toServiceError(new CloisterError(Status.PERMISSION_DENIED, "permission denied"), silentLogger);
    assert.equal(e.code, Status.PERMISSION_DENIED);
    assert.equal(e.details, "permission denied");
  });

  test("anything else becomes INTERNAL without the original text", () => {
    for (const thrown of [new Error("key=abc123"), "string", undefined, { code: 5, details: "x" }]) {
      const e = toServiceError(thrown, silentLogger);
      assert.equal(e.code, Status.INTERNAL);
      assert.equal(e.details, INTERNAL_ERROR_MESSAGE);
    }
  });

  test("lone surrogates cannot break percent-encoding", () => {
    const e = toServiceError(new CloisterError(Status.INVALID_ARGUMENT, "bad \ud800 text"), silentLogger);
    assert.doesNotThrow(() => encodeURI(e.details ?? ""));
  });

  test("toRpcError preserves code, details and metadata", () => {
    const md = new grpc.Metadata();
    md.set("x", "y");
    const se = Object.assign(new Error("5 NOT_FOUND: gone"), { code: 5, details: "gone", metadata: md });
    const e = toRpcError(se);
    assert.ok(e instanceof CloisterError);
    assert.equal(e.code, 5);
    assert.equal(e.message, "gone");
    assert.equal(e.metadata.get("x")[0], "y");
  });
});

describe("addresses", () => {
  test("host:port and [v6]:port", () => {
    assert.deepEqual(parseHostPort("0.0.0.0:7776"), { host: "0.0.0.0", port: 7776 });
    assert.deepEqual(parseHostPort("[::1]:0"), { host: "::1", port: 0 });
    for (const bad of ["localhost", ":1", "a:99999", "a:b", "https://a:1"]) {
      assert.throws(() => parseHostPort(bad), ConfigError, bad);
    }
  });

  test("dial targets accept https:// advertised addresses only", () => {
    assert.equal(dialTarget("https://localhost:17777"), "localhost:17777");
    assert.equal(dialTarget("https://localhost:17777/"), "localhost:17777");
    assert.equal(dialTarget("storage:17778"), "storage:17778");
    assert.equal(dialTarget("[::1]:5"), "[::1]:5");
    assert.throws(() => dialTarget("http://localhost:1"), ConfigError);
  });
});
