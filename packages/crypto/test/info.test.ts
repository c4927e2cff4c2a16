import assert from "node:assert/strict";
import { test } from "node:test";
import { CloisterError, Status } from "@cloister/core";
import {
  FILE_CRYPTO_SCHEMAS,
  fromLegacyFileCrypto,
  generateFileCryptoInfo,
  parseFileCryptoInfo,
  toLegacyFileCrypto,
  toWireFileCryptoInfo,
} from "../src/index.js";

const fails = (fn: () => unknown, message: string) =>
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof CloisterError);
    assert.equal(e.code, Status.INVALID_ARGUMENT);
    assert.equal(e.message, message);
    assert.ok(e.kind, "a catalog kind");
    return true;
  });

const b = (n: number, v = 7) => Buffer.alloc(n, v);

test("valid wire infos parse into the typed union", () => {
  const a = parseFileCryptoInfo({ schema: "aes-gcm-128", key: b(16), iv: b(12) });
  assert.equal(a.schema, "aes-gcm-128");
  assert.deepEqual(a.schema === "aes-gcm-128" && a.key, b(16));
  const c = parseFileCryptoInfo({ schema: "aes-gcm-256", key: b(32), iv: b(12) });
  assert.equal(c.schema, "aes-gcm-256");
  const t = parseFileCryptoInfo({ schema: "teaclave-file-128", key: b(16), iv: new Uint8Array(0) });
  assert.deepEqual(t, { schema: "teaclave-file-128", key: b(16) });
  const t2 = parseFileCryptoInfo({ schema: "teaclave-file-128", key: b(16) });
  assert.equal(t2.schema, "teaclave-file-128");
  assert.deepEqual(parseFileCryptoInfo({ schema: "raw", key: b(3), iv: b(5) }), { schema: "raw" });
});

test("parse copies key material", () => {
  const key = b(16);
  const info = parseFileCryptoInfo({ schema: "teaclave-file-128", key });
  key.fill(0);
  assert.deepEqual(info.schema === "teaclave-file-128" && info.key, b(16));
});

test("validation errors carry the exact legacy texts", () => {
  fails(
    () => parseFileCryptoInfo({ schema: "aes-gcm-512", key: b(16), iv: b(12) }),
    "Invalid crypto schema: aes-gcm-512",
  );
  fails(() => parseFileCryptoInfo({ schema: "", key: b(16), iv: b(12) }), "Invalid crypto schema: ");
  fails(
    () => parseFileCryptoInfo({ schema: "aes-gcm-128", key: b(15), iv: b(12) }),
    "Invalid key length for AesGcm128: 15",
  );
  fails(
    () => parseFileCryptoInfo({ schema: "aes-gcm-128", key: b(16), iv: b(0) }),
    "Invalid iv length for AesGcm128: 0",
  );
  // key is checked before iv
  fails(
    () => parseFileCryptoInfo({ schema: "aes-gcm-128", key: b(32), iv: b(1) }),
    "Invalid key length for AesGcm128: 32",
  );
  fails(
    () => parseFileCryptoInfo({ schema: "aes-gcm-256", key: b(16), iv: b(12) }),
    "Invalid key length for AesGcm256: 16",
  );
  fails(
    () => parseFileCryptoInfo({ schema: "aes-gcm-256", key: b(32), iv: b(16) }),
    "Invalid iv length for AesGcm256: 16",
  );
  fails(
    () => parseFileCryptoInfo({ schema: "teaclave-file-128", key: b(32), iv: b(0) }),
    "Invalid key length for teaclave_file_128: 32",
  );
  fails(
    () => parseFileCryptoInfo({ schema: "teaclave-file-128", key: b(16), iv: b(12) }),
    "IV is not empty for teaclave_file_128",
  );
});

test("wire round trip", () => {
  for (const schema of FILE_CRYPTO_SCHEMAS) {
    const info = generateFileCryptoInfo(schema);
    assert.deepEqual(parseFileCryptoInfo(toWireFileCryptoInfo(info)), info);
  }
  assert.deepEqual(toWireFileCryptoInfo({ schema: "raw" }), {
    schema: "raw",
    key: Buffer.alloc(0),
    iv: Buffer.alloc(0),
  });
});

test("legacy JSON form, both ways", () => {
  const key = Buffer.from(Array.from({ length: 16 }, (_, i) => i));
  const iv = Buffer.alloc(12, 1);
  const a = { schema: "aes-gcm-128" as const, key, iv };
  assert.equal(
    JSON.stringify(toLegacyFileCrypto(a)),
    `{"AesGcm128":{"key":[0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15],"iv":[1,1,1,1,1,1,1,1,1,1,1,1]}}`,
  );
  assert.equal(JSON.stringify(toLegacyFileCrypto({ schema: "raw" })), `"Raw"`);
  assert.equal(
    JSON.stringify(toLegacyFileCrypto({ schema: "teaclave-file-128", key })),
    `{"TeaclaveFile128":{"key":[0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15]}}`,
  );
  for (const schema of FILE_CRYPTO_SCHEMAS) {
    const info = generateFileCryptoInfo(schema);
    assert.deepEqual(fromLegacyFileCrypto(JSON.parse(JSON.stringify(toLegacyFileCrypto(info)))), info);
  }
  assert.equal(
    JSON.stringify(toLegacyFileCrypto(generateFileCryptoInfo("aes-gcm-256"))).startsWith(
      `{"AesGcm256":{"key":[`,
    ),
    true,
  );
});

test("legacy JSON: malformed values are rejected with code 3 and a kind", () => {
  const bad = [
    "raw",
    null,
    42,
    [],
    {},
    { AesGcm128: { key: [1, 2], iv: Array(12).fill(0) } },
    { AesGcm128: { key: Array(16).fill(256), iv: Array(12).fill(0) } },
    { AesGcm128: { key: Array(16).fill(0) } },
    { TeaclaveFile128: { key: Array(16).fill(0), iv: [] } },
    { Unknown: { key: [] } },
    { AesGcm128: { key: Array(16).fill(0), iv: Array(12).fill(0) }, Raw: null },
  ];
  for (const v of bad) {
    assert.throws(
      () => fromLegacyFileCrypto(v),
      (e: unknown) =>
        e instanceof CloisterError && e.code === Status.INVALID_ARGUMENT && e.kind !== undefined,
    );
  }
  fails(
    () => fromLegacyFileCrypto({ AesGcm256: { key: Array(16).fill(0), iv: Array(12).fill(0) } }),
    "Invalid key length for AesGcm256: 16",
  );
});

test("generateFileCryptoInfo makes fresh keys of the right sizes", () => {
  const a = generateFileCryptoInfo("aes-gcm-128");
  const a2 = generateFileCryptoInfo("aes-gcm-128");
  assert.ok(a.schema === "aes-gcm-128" && a2.schema === "aes-gcm-128");
  assert.equal(a.key.length, 16);
  assert.equal(a.iv.length, 12);
  assert.notDeepEqual(a.key, a2.key);
  const c = generateFileCryptoInfo("aes-gcm-256");
  assert.ok(c.schema === "aes-gcm-256" && c.key.length === 32 && c.iv.length === 12);
  const t = generateFileCryptoInfo("teaclave-file-128");
  assert.ok(t.schema === "teaclave-file-128" && t.key.length === 16);
  assert.deepEqual(generateFileCryptoInfo("raw"), { schema: "raw" });
  fails(() => generateFileCryptoInfo("nope" as never), "Invalid crypto schema: nope");
});
