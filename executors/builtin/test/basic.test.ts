import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { BuiltinExecutor, CANCELED, FUNCTION_NOT_FOUND } from "../src/index.js";
import { failsWith, fixture, fixtureText, run } from "./helpers.js";

const BAD_ARGS = "Cannot deserialize arguments";

describe("dispatch", () => {
  it("accepts only (builtin, builtin)", () => {
    assert.deepEqual(new BuiltinExecutor().accepts, [["builtin", "builtin"]]);
  });
  it("fails an unknown function name", async () => {
    await failsWith(FUNCTION_NOT_FOUND, "builtin-nope", {});
    // Names are exact: the two underscore names have no hyphen aliases.
    await failsWith(FUNCTION_NOT_FOUND, "builtin-online-decrypt", {});
  });
  it("fails a task that is already canceled", async () => {
    const c = new AbortController();
    c.abort();
    await failsWith(CANCELED, "builtin-echo", { message: "x" }, { signal: c.signal });
  });
});

describe("builtin-echo", () => {
  it("returns the message unchanged", async () => {
    assert.equal((await run("builtin-echo", { message: "Hello, Teaclave! ✓" })).result, "Hello, Teaclave! ✓");
  });
  it("ignores unknown arguments", async () => {
    assert.equal((await run("builtin-echo", { message: "m", extra: 1 })).result, "m");
  });
  it("rejects a missing or non-string message", async () => {
    await failsWith(BAD_ARGS, "builtin-echo", {});
    await failsWith(BAD_ARGS, "builtin-echo", { message: 1 });
    await failsWith(BAD_ARGS, "builtin-echo", { message: null });
  });
});

describe("builtin-password-check", () => {
  const exposed = fixture("password_check/exposed_passwords.txt");
  it("finds the fixture password in the exposed list", async () => {
    const { result } = await run(
      "builtin-password-check",
      {},
      {
        inputs: { password: fixture("password_check/password.txt"), exposed_passwords: exposed },
      },
    );
    assert.equal(result, "true");
  });
  it("answers false for a password not in the list, trimming both sides", async () => {
    const inputs = { password: "  not-there \r\nsecond", exposed_passwords: exposed };
    assert.equal((await run("builtin-password-check", { any: "ignored" }, { inputs })).result, "false");
    const spaced = { password: " 123456 ", exposed_passwords: "  123456  \n" };
    assert.equal((await run("builtin-password-check", {}, { inputs: spaced })).result, "true");
  });
  it("fails on an empty password file or a missing input", async () => {
    await failsWith(
      "Empty password file",
      "builtin-password-check",
      {},
      { inputs: { password: "", exposed_passwords: exposed } },
    );
    await failsWith(
      "Invalid input file identifier.",
      "builtin-password-check",
      {},
      { inputs: { password: "x" } },
    );
  });
});

describe("builtin-rsa-sign", () => {
  const key = fixture("rsa_sign/key.der");
  it("signs the fixture data (RSASSA-PKCS1-v1_5, SHA-256, base64)", async () => {
    const { result } = await run("builtin-rsa-sign", { data: "test data" }, { inputs: { rsa_key: key } });
    assert.equal(result, fixtureText("rsa_sign/expected_rsasign.txt").trim());
  });
  it("rejects bad arguments and bad keys", async () => {
    await failsWith(BAD_ARGS, "builtin-rsa-sign", { data: ["test"] }, { inputs: { rsa_key: key } });
    await failsWith(
      "RSA key rejected: InvalidEncoding",
      "builtin-rsa-sign",
      { data: "x" },
      { inputs: { rsa_key: key.subarray(0, 100) } },
    );
    await failsWith("Invalid input file identifier.", "builtin-rsa-sign", { data: "x" });
  });
});

describe("builtin_online_decrypt", () => {
  const aes256 = {
    key: "aqUdgZ0lJnuz9yiPkoDxM6ZcTcVVpd4KKLqzbHD88Lg=",
    nonce: "AAECAwQFBgcICQoL",
    encrypted_data: "CaZd8qSMMlBp8SjSXj2I4dQIuC9KkZ5DI/ATo1sWJw==",
    algorithm: "aes256gcm",
  };
  const aes128 = {
    key: "aqUdgZ0lJnuz9yiPkoDxMw==",
    nonce: "AAECAwQFBgcICQoL",
    encrypted_data: "OqMscYqxk1CshHQZulTrrDlJjS/v6BE/clWJyTerUw==",
    algorithm: "aes128gcm",
  };
  it("decrypts both fixture ciphertexts", async () => {
    assert.equal((await run("builtin_online_decrypt", aes256)).result, "Hello Teaclave!");
    assert.equal((await run("builtin_online_decrypt", aes128)).result, "Hello Teaclave!");
  });
  it("uses only the first 12 nonce bytes", async () => {
    const nonce = Buffer.concat([Buffer.from(aes128.nonce, "base64"), Buffer.from([9, 9, 9])]).toString(
      "base64",
    );
    assert.equal((await run("builtin_online_decrypt", { ...aes128, nonce })).result, "Hello Teaclave!");
  });
  it("fails with the legacy texts", async () => {
    await failsWith("Invalid algorithm", "builtin_online_decrypt", { ...aes128, algorithm: "aes192gcm" });
    await failsWith("decryption error", "builtin_online_decrypt", { ...aes128, algorithm: "aes256gcm" });
    const tampered = Buffer.from(aes128.encrypted_data, "base64");
    tampered[0] = (tampered[0] ?? 0) ^ 1;
    await failsWith("decryption error", "builtin_online_decrypt", {
      ...aes128,
      encrypted_data: tampered.toString("base64"),
    });
    await failsWith("decryption error", "builtin_online_decrypt", { ...aes128, nonce: "AAECAwQFBgcICQ==" });
    await failsWith("Invalid byte, offset 3.", "builtin_online_decrypt", {
      ...aes128,
      key: "aqU!gZ0lJnuz9yiPkoDxMw==",
    });
    await failsWith("Encoded text cannot have a 6-bit remainder.", "builtin_online_decrypt", {
      ...aes128,
      nonce: "AAECA",
    });
    await failsWith(BAD_ARGS, "builtin_online_decrypt", {
      ...aes128,
      algorithm: undefined as unknown as string,
    });
    await failsWith(BAD_ARGS, "builtin_online_decrypt", {
      key: aes128.key,
      nonce: aes128.nonce,
      algorithm: "aes128gcm",
    });
  });
  it("fails a plaintext that is not UTF-8", async () => {
    const { createCipheriv } = await import("node:crypto");
    const key = Buffer.alloc(16, 7);
    const nonce = Buffer.alloc(12, 1);
    const c = createCipheriv("aes-128-gcm", key, nonce);
    const sealed = Buffer.concat([c.update(Buffer.from([0xff, 0xfe])), c.final(), c.getAuthTag()]);
    await failsWith("base64 decoded error", "builtin_online_decrypt", {
      key: key.toString("base64"),
      nonce: nonce.toString("base64"),
      encrypted_data: sealed.toString("base64"),
      algorithm: "aes128gcm",
    });
  });
});
