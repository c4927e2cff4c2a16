import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import {
  isArchive,
  isLibosError,
  manifestOf,
  packArchive,
  packFunctionDirectory,
  parseManifest,
  readArchive,
} from "../src/index.js";

const base =
  'schema = "cloister.libos/1"\nruntime = "python3"\ncommand = ["/usr/bin/python3", "/app/m.py"]\n';

test("a manifest parses with its defaults; bad ones fail with code manifest", () => {
  const m = parseManifest(
    `${base}env = { A = "1" }\n[resources]\nmemory_mib = 256\n[files]\ninputs = ["x"]\noutputs = ["y"]\n`,
  );
  assert.deepEqual(
    {
      runtime: m.runtime,
      env: m.env,
      memory: m.resources.memoryMib,
      inputs: m.inputs,
      outputs: m.outputs,
      result: m.result,
      mode: m.mode,
    },
    {
      runtime: "python3",
      env: { A: "1" },
      memory: 256,
      inputs: ["x"],
      outputs: ["y"],
      result: "stdout",
      mode: "zygote",
    },
  );
  for (const bad of [
    base.replace('python3"\n', 'cobol"\n'),
    `${base}env = { LD_PRELOAD = "/x.so" }\n`,
    `${base}env = { PATH = "/evil" }\n`,
    `${base}unknown = 1\n`,
    `${base}[resources]\nmemory_mib = -1\n`,
    `${base}[files]\ninputs = ["../etc"]\n`,
    `${base}[result]\nfrom = "file"\n`,
    base.replace('schema = "cloister.libos/1"', 'schema = "other"'),
    "not toml [",
  ]) {
    assert.throws(
      () => parseManifest(bad),
      (e) => isLibosError(e, "manifest"),
      bad,
    );
  }
});

test("function pack: deterministic ustar with the manifest; symlinks and escaping paths refused", () => {
  const dir = mkdtempSync(join(tmpdir(), "cloister-pack-"));
  writeFileSync(join(dir, "cloister-function.toml"), base);
  writeFileSync(join(dir, "m.py"), "print(1)\n");
  mkdirSync(join(dir, "lib"));
  writeFileSync(join(dir, "lib", "util.py"), "X = 1\n");
  const a = packFunctionDirectory(dir);
  assert.ok(isArchive(a));
  assert.deepEqual(packFunctionDirectory(dir), a);
  assert.deepEqual([...readArchive(a).keys()].sort(), ["cloister-function.toml", "lib/util.py", "m.py"]);
  assert.equal(manifestOf(a).command[1], "/app/m.py");
  symlinkSync("/etc/passwd", join(dir, "link"));
  assert.throws(
    () => packFunctionDirectory(dir),
    (e) => isLibosError(e, "manifest"),
  );
  assert.throws(
    () => packArchive([{ path: "../x", data: Buffer.from("") }]),
    (e) => isLibosError(e, "manifest"),
  );
  assert.throws(
    () => manifestOf(packArchive([{ path: "m.py", data: Buffer.from("") }])),
    (e) => isLibosError(e, "manifest"),
  );
});

test("a bare payload's runtime comes from its first bytes", () => {
  assert.equal(manifestOf(Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2])).runtime, "static");
  assert.equal(manifestOf(Buffer.from([0x50, 0x4b, 3, 4, 0])).runtime, "java");
  assert.equal(manifestOf(Buffer.from("print('hi')\n")).runtime, "python3");
});
