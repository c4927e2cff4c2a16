import assert from "node:assert/strict";
import { createCipheriv, createDecipheriv } from "node:crypto";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import {
  AesGcmFileDecryptor,
  AesGcmFileEncryptor,
  type AesGcmInfo,
  decryptAesGcmBuffer,
  decryptBuffer,
  decryptStream,
  encryptAesGcmBuffer,
  encryptBuffer,
  encryptStream,
  FileCryptoError,
  generateFileCryptoInfo,
} from "../src/index.js";
import { FIXTURES } from "./reference.js";

const F = `${FIXTURES}functions/`;
const zero128: AesGcmInfo = { schema: "aes-gcm-128", key: Buffer.alloc(16), iv: Buffer.alloc(12) };

const rejects = (fn: () => unknown, reason: string, message: string) =>
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof FileCryptoError, String(e));
    assert.equal(e.reason, reason);
    assert.equal(e.message, message);
    return true;
  });

/** An independent encryption with node:crypto directly: ciphertext ‖ tag, AAD = 8 zero bytes. */
function independentEncrypt(plain: Buffer, info: AesGcmInfo): Buffer {
  const alg = info.schema === "aes-gcm-128" ? "aes-128-gcm" : "aes-256-gcm";
  const c = createCipheriv(alg, info.key, info.iv);
  c.setAAD(Buffer.alloc(8));
  return Buffer.concat([c.update(plain), c.final(), c.getAuthTag()]);
}

test("spec vector: data: URL payload decrypts to `password`", () => {
  const file = Buffer.from("c+mpvRfZ0fboR0j3rTgOGDBiubSzlCt9", "base64");
  const tag = Buffer.from("e84748f7ad380e183062b9b4b3942b7d", "hex");
  const { plaintext, cmac } = decryptAesGcmBuffer(file, zero128, { expectedCmac: tag });
  assert.equal(plaintext.toString(), "password");
  assert.deepEqual(cmac, tag);
  assert.deepEqual(encryptAesGcmBuffer(Buffer.from("password"), zero128).file, file);
});

test("spec vector: gbdt_training/train.aes_gcm_128 (IV 12×01)", async () => {
  const info: AesGcmInfo = { schema: "aes-gcm-128", key: Buffer.alloc(16), iv: Buffer.alloc(12, 1) };
  const file = readFileSync(`${F}gbdt_training/train.aes_gcm_128`);
  const tag = Buffer.from("592f1e607649d89ff2aa8a2841a57cad", "hex");
  const { plaintext, cmac } = await decryptBuffer(file, info, { expectedCmac: tag });
  assert.deepEqual(plaintext, readFileSync(`${F}gbdt_training/train.txt`));
  assert.deepEqual(cmac, tag);
  // Our writer reproduces the fixture byte for byte (deterministic given key and IV).
  assert.deepEqual((await encryptBuffer(plaintext, info)).file, file);
});

test("without the 8-byte AAD the fixture does not open", () => {
  const file = readFileSync(`${F}gbdt_training/train.aes_gcm_128`);
  const d = createDecipheriv("aes-128-gcm", Buffer.alloc(16), Buffer.alloc(12, 1));
  d.setAuthTag(file.subarray(file.length - 16));
  d.update(file.subarray(0, file.length - 16));
  assert.throws(() => d.final());
});

for (const schema of ["aes-gcm-128", "aes-gcm-256"] as const) {
  const name = schema === "aes-gcm-128" ? "AesGcm128" : "AesGcm256";

  test(`${schema}: interop with an independent node:crypto encoder, both ways`, () => {
    const info = generateFileCryptoInfo(schema) as AesGcmInfo;
    for (const n of [1, 15, 16, 17, 1000, 65537]) {
      const plain = Buffer.from(Array.from({ length: n }, (_, i) => (i * 31) & 0xff));
      const theirs = independentEncrypt(plain, info);
      assert.deepEqual(decryptAesGcmBuffer(theirs, info).plaintext, plain);
      const ours = encryptAesGcmBuffer(plain, info);
      assert.deepEqual(ours.file, theirs);
      assert.deepEqual(ours.cmac, theirs.subarray(theirs.length - 16));
    }
  });

  test(`${schema}: streaming with arbitrary chunk boundaries`, async () => {
    const info = generateFileCryptoInfo(schema) as AesGcmInfo;
    const plain = Buffer.from(Array.from({ length: 10_000 }, (_, i) => (i * 7) & 0xff));
    const file = independentEncrypt(plain, info);
    for (const size of [1, 3, 15, 16, 17, 100, 4096, 20_000]) {
      const chunks: Buffer[] = [];
      for (let i = 0; i < file.length; i += size) chunks.push(file.subarray(i, i + size));
      const s = decryptStream(chunks, info, { expectedCmac: file.subarray(file.length - 16) });
      const out: Buffer[] = [];
      for await (const c of s) out.push(c);
      assert.deepEqual(Buffer.concat(out), plain);
      assert.deepEqual(s.cmac, file.subarray(file.length - 16));

      const pchunks: Buffer[] = [];
      for (let i = 0; i < plain.length; i += size) pchunks.push(plain.subarray(i, i + size));
      const e = encryptStream(pchunks, info);
      const enc: Buffer[] = [];
      for await (const c of e) enc.push(c);
      assert.deepEqual(Buffer.concat(enc), file);
      assert.deepEqual(e.cmac, file.subarray(file.length - 16));
    }
  });

  test(`${schema}: failure texts and check order`, () => {
    const info = generateFileCryptoInfo(schema) as AesGcmInfo;
    const { file, cmac } = encryptAesGcmBuffer(Buffer.from("hello world"), info);
    const path = "/tmp/x/in put.bin";
    // length: a 16-byte file (empty plaintext) is refused, even with the right cmac
    const empty = encryptAesGcmBuffer(Buffer.alloc(0), info);
    rejects(
      () => decryptAesGcmBuffer(empty.file, info, { expectedCmac: empty.cmac, path }),
      "invalid-length",
      `${name} File, invalid length: "/tmp/x/in put.bin"`,
    );
    rejects(
      () => decryptAesGcmBuffer(Buffer.alloc(3), info, { path }),
      "invalid-length",
      `${name} File, invalid length: "${path}"`,
    );
    // tag: checked before decryption
    const otherTag = Buffer.from(cmac);
    otherTag[0] = otherTag[0]! ^ 1;
    rejects(
      () => decryptAesGcmBuffer(file, info, { expectedCmac: otherTag, path }),
      "invalid-tag",
      `${name} File, invalid tag: "${path}"`,
    );
    // tampered ciphertext, tag equal to the registered one
    const bad = Buffer.from(file);
    bad[0] = bad[0]! ^ 0x80;
    rejects(
      () => decryptAesGcmBuffer(bad, info, { expectedCmac: cmac, path }),
      "aead",
      "Aead open_in_place error",
    );
    // tampered tag with no registered cmac: authentication fails
    const badTag = Buffer.from(file);
    badTag[badTag.length - 1] = badTag[badTag.length - 1]! ^ 1;
    rejects(() => decryptAesGcmBuffer(badTag, info), "aead", "Aead open_in_place error");
    // wrong key / wrong IV
    const other = generateFileCryptoInfo(schema) as AesGcmInfo;
    rejects(() => decryptAesGcmBuffer(file, other), "aead", "Aead open_in_place error");
    rejects(
      () => decryptAesGcmBuffer(file, { ...info, iv: Buffer.alloc(12, 9) }),
      "aead",
      "Aead open_in_place error",
    );
    // truncation
    rejects(
      () => decryptAesGcmBuffer(file.subarray(0, file.length - 1), info),
      "aead",
      "Aead open_in_place error",
    );
    // quotes in paths are escaped like the legacy Debug output
    rejects(
      () => decryptAesGcmBuffer(Buffer.alloc(0), info, { path: 'a"b\\c' }),
      "invalid-length",
      `${name} File, invalid length: "a\\"b\\\\c"`,
    );
  });

  test(`${schema}: every single-byte flip is rejected`, () => {
    const info = generateFileCryptoInfo(schema) as AesGcmInfo;
    const { file } = encryptAesGcmBuffer(Buffer.from("some secret content, 40 bytes long......"), info);
    for (let i = 0; i < file.length; i++) {
      const bad = Buffer.from(file);
      bad[i] = bad[i]! ^ 0x01;
      assert.throws(() => decryptAesGcmBuffer(bad, info), FileCryptoError, `flip at ${i}`);
    }
  });
}

test("incremental classes refuse use after final()", () => {
  const enc = new AesGcmFileEncryptor(zero128);
  enc.final();
  assert.throws(() => enc.update(Buffer.alloc(1)));
  const dec = new AesGcmFileDecryptor(zero128);
  dec.update(Buffer.from("c+mpvRfZ0fboR0j3rTgOGDBiubSzlCt9", "base64"));
  dec.final();
  assert.throws(() => dec.final());
});
