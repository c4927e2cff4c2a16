// The set-up step of `npm start` / `npm test` (scripts/setup.mjs), on this machine: quiet when
// every listed Debian package is there; otherwise the exact sudo line, after which `start`
// carries on and `test` stops. Run as an unprivileged user (as root it would install for real).
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const SETUP = join(ROOT, "scripts", "setup.mjs");
const dir = mkdtempSync(join(tmpdir(), "cloister-setup-"));
// Readable by the unprivileged user the step runs as.
chmodSync(dir, 0o755);

function setup(purpose: "start" | "test", list: string) {
  const file = join(dir, `${purpose}-${Math.random().toString(16).slice(2)}.txt`);
  writeFileSync(file, list, { mode: 0o644 });
  const env = { PATH: process.env.PATH ?? "/usr/bin:/bin", CLOISTER_SYSTEM_PACKAGES: file };
  // As root, drop to nobody: the unprivileged path is the one that must not install anything.
  const [cmd, args] =
    process.getuid?.() === 0
      ? ["setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", process.execPath, SETUP, purpose]]
      : [process.execPath, [SETUP, purpose]];
  const r = spawnSync(cmd, args as string[], { env, encoding: "utf8" });
  return { code: r.status, stderr: r.stderr, stdout: r.stdout };
}

// util-linux is essential on Debian, so it is installed wherever this runs.
const PRESENT = "util-linux   # start: prlimit\n";
const MISSING = "cloister-no-such-package   # start: a package no archive has\n";
const TEST_ONLY = "cloister-no-such-test-package   # only the test suite uses it\n";

test("everything present: silent, exit 0", () => {
  const r = setup("test", `# comment line\n${PRESENT}`);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, "");
  assert.equal(r.stdout, "");
});

test("npm start without a runtime package: prints the sudo line and carries on", () => {
  const r = setup("start", PRESENT + MISSING + TEST_ONLY);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /missing Debian packages: cloister-no-such-package \(a package no archive has\)/);
  assert.match(r.stderr, /\n {2}sudo apt-get install -y cloister-no-such-package\n/);
  assert.doesNotMatch(r.stderr, /no-such-test-package/, "start needs only the runtime packages");
  assert.match(r.stderr, /starting anyway/);
});

test("npm test without a package: prints the sudo line and stops", () => {
  const r = setup("test", PRESENT + MISSING + TEST_ONLY);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /sudo apt-get install -y cloister-no-such-package cloister-no-such-test-package\n/);
});

test("the repository's list parses: every line a package name, runtime ones marked", async () => {
  const { readPackageList } = (await import(SETUP)) as {
    readPackageList(text: string): Array<{ name: string; why: string; runtime: boolean }>;
  };
  const { readFileSync } = await import("node:fs");
  const list = readPackageList(readFileSync(join(ROOT, "scripts", "system-packages.txt"), "utf8"));
  assert.ok(list.every((p) => /^[a-z0-9][a-z0-9+.-]+$/.test(p.name) && p.why.length > 0));
  const runtime = list.filter((p) => p.runtime).map((p) => p.name);
  for (const name of ["bubblewrap", "util-linux", "opencv-data"]) assert.ok(runtime.includes(name), name);
  assert.ok(!runtime.includes("clang"), "test-only toolchains are not installed by npm start");
});
