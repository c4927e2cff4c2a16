import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { pathToFileURL } from "node:url";
import { CloisterError } from "@cloister/core";
import { fetchOutput, prepareInputFile } from "../src/index.js";

const dir = mkdtempSync(join(tmpdir(), "cloister-sdk-"));
const plain = join(dir, "plain.txt");
writeFileSync(plain, "secret lines\nmore\n");

for (const schema of ["aes-gcm-128", "aes-gcm-256", "teaclave-file-128"] as const) {
  test(`prepareInputFile + fetchOutput round-trip (${schema}), by path and by file URL`, async () => {
    const enc = join(dir, `data-${schema}.enc`);
    const { cryptoInfo, cmac } = await prepareInputFile(plain, enc, schema);
    assert.equal(cryptoInfo.schema, schema);
    assert.equal(cmac.length, 16);
    assert.equal(cryptoInfo.iv.length, schema === "teaclave-file-128" ? 0 : 12);
    const byPath = await fetchOutput(enc, cryptoInfo, { cmac });
    assert.equal(byPath.plaintext.toString(), "secret lines\nmore\n");
    assert.deepEqual(byPath.cmac, cmac);
    const byUrl = await fetchOutput(pathToFileURL(enc).href, cryptoInfo);
    assert.equal(byUrl.plaintext.toString(), "secret lines\nmore\n");
  });
}

test("fetchOutput refuses a file whose tag is not the expected cmac, and a wrong key", async () => {
  const enc = join(dir, "tagged.enc");
  const { cryptoInfo } = await prepareInputFile(plain, enc, "aes-gcm-128");
  await assert.rejects(fetchOutput(enc, cryptoInfo, { cmac: Buffer.alloc(16) }), CloisterError);
  const wrong = { ...cryptoInfo, key: Buffer.alloc(16, 1) };
  await assert.rejects(fetchOutput(enc, wrong), CloisterError);
});

test("fetchOutput rejects an unsupported URL scheme with a clear error", async () => {
  await assert.rejects(
    fetchOutput("fusion:///TEACLAVE_FUSION_BASE/x.fusion", { schema: "raw" }),
    /cannot fetch fusion: URLs/,
  );
});
