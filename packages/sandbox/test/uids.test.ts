import assert from "node:assert/strict";
import { execFile, execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { configureSandboxUids } from "../src/index.js";

const host = join(dirname(fileURLToPath(import.meta.url)), "fixtures", "uid-load-host.js");
const root = process.getuid?.() === 0;

interface HostReport {
  block?: { first: number; size: number };
  uids?: number[];
  failures?: string[];
  startFailures?: number;
  error?: string;
  message?: string;
}

async function runHost(env: Record<string, string> = {}): Promise<HostReport> {
  const { stdout } = await promisify(execFile)(process.execPath, [host], {
    env: { ...process.env, NODE_NO_WARNINGS: "1", ...env },
    timeout: 120_000,
  });
  return JSON.parse(stdout) as HostReport;
}

describe("sandbox uids across processes", { skip: !root && "per-sandbox uids need root" }, () => {
  it("two nodes on one host under load never share a uid and start every sandbox", async () => {
    // Each host is its own process, like two execution nodes or `npm test` beside `npm start`,
    // and uses the host-wide lock directory the real nodes use.
    const [a, b] = await Promise.all([runHost({ JOBS: "8" }), runHost({ JOBS: "8" })]);
    for (const r of [a, b]) {
      assert.equal(r.error, undefined, r.message);
      assert.deepEqual(r.failures, []);
      assert.equal(r.startFailures, 0);
      assert.equal(r.uids!.length, 8);
      for (const uid of r.uids!) {
        assert.ok(
          uid >= r.block!.first && uid < r.block!.first + r.block!.size,
          `uid ${uid} outside its block`,
        );
      }
    }
    assert.notEqual(a.block!.first, b.block!.first);
    const shared = a.uids!.filter((u) => b.uids!.includes(u));
    assert.deepEqual(shared, [], "a uid was used by both nodes");
  });

  it("a configured range is used, and a second process configured with it refuses to start", async () => {
    const first = 0x6100_0000 + (process.pid % 4096) * 64;
    const range = `${first},64`;
    const held = runHost({ JOBS: "6", CLOISTER_TEST_UID_RANGE: range });
    // Started while the first still holds the range (its sandboxes take a while to start).
    await new Promise((r) => setTimeout(r, 200));
    const [a, b] = await Promise.all([held, runHost({ JOBS: "1", CLOISTER_TEST_UID_RANGE: range })]);
    const [ok, refused] = a.error ? [b, a] : [a, b];
    assert.equal(ok.error, undefined, ok.message);
    assert.deepEqual(ok.block, { first, size: 64 });
    for (const uid of ok.uids!) assert.ok(uid >= first && uid < first + 64);
    assert.equal(refused.error, "SandboxStartError");
  });
});

describe("uid block lock files", () => {
  const index = new URL("../src/index.js", import.meta.url).pathname;
  const blockOf = (dir: string) =>
    Number(
      execFileSync(
        process.execPath,
        ["-e", `import(${JSON.stringify(index)}).then((m) => console.log(m.sandboxUidBlock().first))`],
        { env: { ...process.env, CLOISTER_SANDBOX_UID_LOCK_DIR: dir }, encoding: "utf8" },
      ),
    );

  it("prefers a never-used block, and reclaims a dead process's block only when none is left", () => {
    const dir = mkdtempSync(join(tmpdir(), "cloister-uid-locks-"));
    try {
      // Lock files a killed process left behind, for every block but one.
      const dead = spawnSync(process.execPath, ["-e", ""]).pid;
      for (let n = 0; n < 4096; n++) if (n !== 77) writeFileSync(join(dir, `block-${n}`), `${dead}\n`);
      assert.equal(blockOf(dir), 0x7000_0000 + 77 * 4096);
      writeFileSync(join(dir, "block-77"), `${dead}\n`);
      const reclaimed = blockOf(dir);
      assert.ok(reclaimed >= 0x7000_0000 && reclaimed < 0x7100_0000 && reclaimed % 4096 === 0);
      // The reclaiming process removed its lock file when it exited.
      assert.equal(readdirSync(dir).length, 4095);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("configureSandboxUids", () => {
  it("refuses ranges that reach ordinary accounts, the shared range or past the last uid", () => {
    assert.throws(() => configureSandboxUids({ first: 1000, count: 100 }), RangeError);
    assert.throws(() => configureSandboxUids({ first: 0x7000_1000, count: 100 }), RangeError);
    assert.throws(() => configureSandboxUids({ first: 0x6fff_ff00, count: 0x1000 }), RangeError);
    assert.throws(() => configureSandboxUids({ first: 0xffff_ff00, count: 0x1000 }), RangeError);
    assert.throws(() => configureSandboxUids({ first: 100_000, count: 4 }), RangeError);
  });
});
