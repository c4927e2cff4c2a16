// Recyclable sandboxed workers: bound to one key, replaced after any failure or a rejected result.
import assert from "node:assert/strict";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import {
  RecyclingSandboxPool,
  SandboxJobError,
  SandboxTimeoutError,
  SandboxUnavailableError,
} from "../src/index.js";

const workerScript = join(dirname(fileURLToPath(import.meta.url)), "fixtures", "state-worker.js");

describe("RecyclingSandboxPool", () => {
  const pool = new RecyclingSandboxPool({ workerScript, maxWorkers: 2, spare: 1, maxJobsPerWorker: 3 });
  after(() => pool.close());
  const run = async (key: string, note: string, keep?: (r: { data: unknown }) => boolean) =>
    (await pool.run(key, { data: { note } }, keep ? { keep } : {})).data as { pid: number; seen: string[] };

  it("reuses a worker for one key and never for another", async () => {
    const a1 = await run("a", "a1");
    const a2 = await run("a", "a2");
    assert.equal(a2.pid, a1.pid);
    assert.deepEqual(a2.seen, ["a1", "a2"]);
    const b1 = await run("b", "b1");
    assert.deepEqual(b1.seen, ["b1"], "another key gets a process that saw nothing");
  });

  it("replaces a worker after maxJobsPerWorker jobs", async () => {
    const first = await run("c", "c1");
    await run("c", "c2");
    await run("c", "c3");
    const fourth = await run("c", "c4");
    assert.notEqual(fourth.pid, first.pid);
    assert.deepEqual(fourth.seen, ["c4"]);
  });

  it("replaces a worker whose result the caller rejects, or whose job failed or timed out", async () => {
    const kept = await run("d", "d1", () => false);
    const next = await run("d", "d2");
    assert.notEqual(next.pid, kept.pid);
    assert.deepEqual(next.seen, ["d2"]);
    await assert.rejects(pool.run("d", { data: { note: "x", fail: true } }), SandboxJobError);
    assert.deepEqual((await run("d", "d3")).seen, ["d3"]);
    const recycled = pool.stats().recycled;
    await assert.rejects(
      pool.run("d", { data: { note: "slow", sleepMs: 5000 } }, { timeoutMs: 100 }),
      (e: unknown) => e instanceof SandboxTimeoutError,
    );
    assert.equal(pool.stats().recycled, recycled + 1);
    assert.deepEqual((await run("d", "d4")).seen, ["d4"]);
  });

  it("runs jobs of different keys at once, up to maxWorkers", async () => {
    const [x, y] = await Promise.all([run("x", "x1"), run("y", "y1")]);
    assert.notEqual(x.pid, y.pid);
    assert.ok(pool.stats().idle <= 2);
  });
});

describe("RecyclingSandboxPool start-up", () => {
  it("boots the first workers beside the probe; a failed probe fails start and no job runs", async () => {
    // A bwrap that refuses the probe (node -e …) and starts workers normally: the spare is
    // already booting when the probe fails, and must be killed without serving anything.
    const dir = mkdtempSync(join(tmpdir(), "cloister-probe-bwrap-"));
    chmodSync(dir, 0o755);
    const fake = join(dir, "bwrap");
    writeFileSync(
      fake,
      '#!/bin/sh\nfor a in "$@"; do [ "$a" = "-e" ] && { echo "bwrap: probe refused" >&2; exit 1; }; done\nexec /usr/bin/bwrap "$@"\n',
    );
    chmodSync(fake, 0o755);
    const pool = new RecyclingSandboxPool({ workerScript, bwrapPath: fake, maxWorkers: 1, spare: 1 });
    try {
      await assert.rejects(pool.start(), SandboxUnavailableError);
      assert.equal(pool.stats().started, 1, "the spare was started beside the probe");
      await assert.rejects(pool.run("k", { data: { note: "n" } }), SandboxUnavailableError);
      const deadline = Date.now() + 10_000;
      while (pool.stats().spare + pool.stats().starting > 0 && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 20));
      const stats = pool.stats();
      assert.equal(stats.spare + stats.starting + stats.idle + stats.running, 0, "no worker is left");
    } finally {
      await pool.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
