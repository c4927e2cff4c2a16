import assert from "node:assert/strict";
import { test } from "node:test";
import { benchCrypto } from "../bench/crypto.bench.js";

test("benchCrypto runs every schema both ways (1 MiB smoke run)", async () => {
  const r = await benchCrypto(1);
  for (const schema of ["aes-gcm-128", "aes-gcm-256", "teaclave-file-128", "raw"]) {
    for (const dir of ["encrypt", "decrypt"]) assert.ok((r[`${schema}.${dir}`] ?? 0) > 0, `${schema}.${dir}`);
  }
});
