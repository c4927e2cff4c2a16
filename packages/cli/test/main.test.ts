import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";

const MAIN = fileURLToPath(new URL("../src/main.js", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "cloister-cli-"));

function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [MAIN, "--data-dir", dir, ...args],
      { env: { ...process.env, CLOISTER_SESSION: join(dir, "s.json") } },
      (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

describe("the cloister command without a platform", () => {
  test("file encrypt --save-info, then decrypt and fetch with --info, round-trip the data", async () => {
    const plain = join(dir, "plain.txt");
    writeFileSync(plain, "a\nb\n");
    const enc = join(dir, "data.enc");
    const info = join(dir, "data.info.json");
    const r = await cli(
      "--json",
      "file",
      "encrypt",
      plain,
      enc,
      "--schema",
      "teaclave-file-128",
      "--save-info",
      info,
    );
    assert.equal(r.code, 0, r.stderr);
    const view = JSON.parse(r.stdout);
    assert.equal(view.schema, "teaclave-file-128");
    assert.match(view.cmac, /^[0-9a-f]{32}$/);
    assert.deepEqual(JSON.parse(readFileSync(info, "utf8")), view);
    assert.equal(statSync(info).mode & 0o777, 0o600);
    const out = join(dir, "fetched.txt");
    const f = await cli("--json", "file", "fetch", enc, out, "--info", info);
    assert.equal(f.code, 0, f.stderr);
    assert.equal(readFileSync(out, "utf8"), "a\nb\n");
    assert.equal(JSON.parse(f.stdout).cmac, view.cmac);
    const d = await cli("file", "decrypt", enc, join(dir, "decrypted.txt"), "--info", info);
    assert.equal(d.code, 0, d.stderr);
    assert.match(d.stdout, /^decrypted; cmac [0-9a-f]{32}/);
  });

  test("a wrong expected cmac is refused with the crypto error and its code", async () => {
    const plain = join(dir, "p2.txt");
    writeFileSync(plain, "x");
    const enc = join(dir, "p2.enc");
    const e = JSON.parse(
      (await cli("--json", "file", "encrypt", plain, enc, "--schema", "aes-gcm-128")).stdout,
    );
    const r = await cli(
      "file",
      "fetch",
      enc,
      join(dir, "p2.out"),
      "--schema",
      "aes-gcm-128",
      "--key",
      e.key,
      "--iv",
      e.iv,
      "--cmac",
      "00".repeat(16),
    );
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^cloister: .*invalid tag.* \([A-Z_]+\)\n$/);
  });

  test("bad usage exits 2 with a message naming the flag", async () => {
    const r = await cli("file", "encrypt", "a", "b", "--schema", "aes-128");
    assert.equal(r.code, 2);
    assert.equal(
      r.stderr,
      'cloister: --schema: expected one of aes-gcm-128, aes-gcm-256, teaclave-file-128, raw, got "aes-128"\n',
    );
  });

  test("missing trust files and a missing session are explained; --json also puts the error on stdout", async () => {
    const r = await cli("--json", "task", "get", "task-x");
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^cloister: cannot read .*as_root_ca\.pem: give --as-root-ca or --data-dir/);
    assert.match(JSON.parse(r.stdout).error.message, /as_root_ca\.pem/);
    const out = await cli("user", "logout");
    assert.equal(out.code, 0);
    assert.match(out.stdout, /^not logged in/);
  });
});
