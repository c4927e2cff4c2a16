import assert from "node:assert/strict";
import {
  copyFileSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import {
  type AesGcmInfo,
  decryptFile,
  encryptFile,
  FILE_CRYPTO_SCHEMAS,
  FileCryptoError,
  type FileCryptoFailure,
  generateFileCryptoInfo,
  RAW_CMAC,
  readClaimedCmac,
  type TeaclaveFile128Info,
} from "../src/index.js";
import { FIXTURES, refDecode, refEncode } from "./reference.js";

const dir = mkdtempSync(join(tmpdir(), "cloister-crypto-"));
after(() => rmSync(dir, { recursive: true, force: true }));
const F = `${FIXTURES}functions/`;
const ZERO: TeaclaveFile128Info = { schema: "teaclave-file-128", key: Buffer.alloc(16) };

async function rejectsWith(p: Promise<unknown>, reason: FileCryptoFailure, message?: string) {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof FileCryptoError, String(e));
    assert.equal(e.reason, reason);
    if (message !== undefined) assert.equal(e.message, message);
    return true;
  });
}

const noPartials = () =>
  assert.deepEqual(
    readdirSync(dir).filter((n) => n.endsWith(".partial")),
    [],
  );

for (const schema of FILE_CRYPTO_SCHEMAS) {
  test(`${schema}: encryptFile → decryptFile round trip on disk (2.5 MiB)`, async () => {
    const info = generateFileCryptoInfo(schema);
    const plain = Buffer.alloc(2.5 * 1024 * 1024 + 123);
    for (let i = 0; i < plain.length; i++) plain[i] = (i * 131) >>> 3;
    const src = join(dir, `${schema}.plain`);
    const enc = join(dir, `${schema}.enc`);
    const out = join(dir, `${schema}.out`);
    writeFileSync(src, plain);
    const { cmac } = await encryptFile(src, enc, info);
    assert.equal(cmac.length, 16);
    assert.deepEqual(await readClaimedCmac(enc, info), cmac);
    const r = await decryptFile(enc, out, info, cmac);
    assert.deepEqual(r.cmac, cmac);
    assert.deepEqual(readFileSync(out), plain);
    if (info.schema === "teaclave-file-128") {
      const ref = refDecode(readFileSync(enc), info.key);
      assert.equal(ref.name, `${info.schema}.enc`);
      assert.deepEqual(ref.plaintext, plain);
    }
    if (schema === "raw") assert.deepEqual(cmac, RAW_CMAC);
    noPartials();
  });
}

test("decryptFile reads a legacy fixture; the name check follows the path's basename", async () => {
  const out = join(dir, "psi0.txt");
  const cmac = Buffer.from("92f686d4ac2ba6b4ffd93bc7ac5dbf58", "hex");
  await decryptFile(`${F}ordered_set_intersect/psi0.txt.enc`, out, ZERO, cmac);
  assert.deepEqual(readFileSync(out), readFileSync(`${F}ordered_set_intersect/psi0.txt`));

  const renamed = join(dir, "renamed.enc");
  copyFileSync(`${F}ordered_set_intersect/psi0.txt.enc`, renamed);
  const out2 = join(dir, "renamed.out");
  await rejectsWith(decryptFile(renamed, out2, ZERO, cmac), "name-mismatch");
  assert.equal(existsSync(out2), false);
  await decryptFile(renamed, out2, ZERO, cmac, { fileName: null });
  assert.deepEqual(readFileSync(out2), readFileSync(`${F}ordered_set_intersect/psi0.txt`));
  await decryptFile(renamed, join(dir, "renamed.out3"), ZERO, cmac, { fileName: "psi0.txt.enc" });
  noPartials();
});

test("encryptFile embeds a chosen file name (the output URL's basename)", async () => {
  const src = join(dir, "named.plain");
  writeFileSync(src, "hello");
  const enc = join(dir, "staging-123");
  await encryptFile(src, enc, ZERO, { fileName: "result.enc" });
  assert.equal(refDecode(readFileSync(enc), ZERO.key).name, "result.enc");
});

test("decryptFile reads what the independent encoder wrote", async () => {
  const key = Buffer.alloc(16, 0x5a);
  const plain = Buffer.alloc(3072 + 130 * 4096 + 9, 0x33);
  const { file, cmac } = refEncode(plain, key, "ref.bin");
  const p = join(dir, "ref.bin");
  writeFileSync(p, file);
  await decryptFile(p, join(dir, "ref.out"), { schema: "teaclave-file-128", key }, cmac);
  assert.deepEqual(readFileSync(join(dir, "ref.out")), plain);
});

test("failures leave no output: wrong cmac, tampering, wrong key, truncation", async () => {
  const enc = `${F}ordered_set_intersect/psi0.txt.enc`;
  const out = join(dir, "never");
  await rejectsWith(
    decryptFile(enc, out, ZERO, Buffer.alloc(16)),
    "corrupted",
    `Corrupted input file: "${enc}"`,
  );
  await rejectsWith(
    decryptFile(enc, out, { schema: "teaclave-file-128", key: Buffer.alloc(16, 1) }),
    "metadata-auth",
  );

  const big = join(dir, "big.bin");
  const info = generateFileCryptoInfo("teaclave-file-128");
  writeFileSync(join(dir, "big.plain"), Buffer.alloc(200_000, 7));
  const { cmac } = await encryptFile(join(dir, "big.plain"), big, info);
  const bytes = readFileSync(big);
  bytes[bytes.length - 100] = bytes[bytes.length - 100]! ^ 1;
  writeFileSync(big, bytes);
  await rejectsWith(decryptFile(big, out, info, cmac), "node-auth");
  writeFileSync(big, bytes.subarray(0, bytes.length - 4096));
  await rejectsWith(decryptFile(big, out, info, cmac), "truncated");
  assert.equal(existsSync(out), false);
  noPartials();
});

test("AES-GCM decryptFile: legacy texts and order (length, tag, then AEAD)", async () => {
  const info = generateFileCryptoInfo("aes-gcm-256") as AesGcmInfo;
  const src = join(dir, "g.plain");
  const enc = join(dir, "g.enc");
  writeFileSync(src, "attack at dawn");
  const { cmac } = await encryptFile(src, enc, info);
  const out = join(dir, "g.out");
  await rejectsWith(
    decryptFile(enc, out, info, Buffer.alloc(16)),
    "invalid-tag",
    `AesGcm256 File, invalid tag: "${enc}"`,
  );
  const bytes = readFileSync(enc);
  bytes[0] = bytes[0]! ^ 1;
  writeFileSync(enc, bytes);
  await rejectsWith(decryptFile(enc, out, info, cmac), "aead", "Aead open_in_place error");
  writeFileSync(enc, bytes.subarray(0, 16));
  await rejectsWith(
    decryptFile(enc, out, info, cmac),
    "invalid-length",
    `AesGcm256 File, invalid length: "${enc}"`,
  );
  assert.equal(existsSync(out), false);
  noPartials();
});
