import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import {
  SandboxAbortedError,
  SandboxClosedError,
  SandboxCrashedError,
  SandboxError,
  SandboxJobError,
  SandboxReplyTooLargeError,
  SandboxStartError,
  SandboxTimeoutError,
  SandboxUnavailableError,
} from "../src/index.js";
import { SingleUsePool } from "./single-use.js";

const here = dirname(fileURLToPath(import.meta.url));
const workerScript = join(here, "fixtures", "probe-worker.js");
const repoRoot = join(here, "..", "..", "..", "..");

const SECRET_NAME = "CLOISTER_SANDBOX_TEST_SECRET";
process.env[SECRET_NAME] = `s3cret-${randomBytes(8).toString("hex")}`;

/** Host pids whose command line carries the marker (sandboxed processes are visible from here). */
function processesWith(marker: string): number[] {
  const pids: number[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (readFileSync(`/proc/${name}/cmdline`, "utf8").includes(marker)) pids.push(Number(name));
    } catch {
      // exited meanwhile
    }
  }
  return pids;
}

async function waitFor(cond: () => boolean, ms = 5000): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (cond()) return true;
    await new Promise((r) => setTimeout(r, 10));
  }
  return cond();
}

const newMarker = () => `cloister-probe-${randomBytes(6).toString("hex")}`;

/** Starts a job that hangs, waits until its processes are visible, and returns the pending call. */
async function startHanging(
  pool: SingleUsePool,
  op: string,
  opts: { signal?: AbortSignal; timeoutMs?: number },
) {
  const marker = newMarker();
  const call = pool.run({ data: { op, marker } }, opts);
  call.catch(() => {});
  assert.ok(await waitFor(() => processesWith(marker).length > 0), "the job's process never appeared");
  return { marker, call };
}

async function assertNoSurvivors(marker: string): Promise<void> {
  // The kernel tears the PID namespace down asynchronously; give it a moment, then insist.
  await waitFor(() => processesWith(marker).length === 0, 2000);
  assert.deepEqual(processesWith(marker), [], "processes of a killed sandbox survived");
}

async function assertServes(pool: SingleUsePool): Promise<void> {
  const r = await pool.run({ data: { op: "echo", arg: "still here" } });
  assert.equal((r.data as { data: string }).data, "still here");
}

describe("SingleUsePool", () => {
  let pool: SingleUsePool;
  let dataDir: string;

  before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), "cloister-data-"));
    writeFileSync(join(dataDir, "secret.bin"), "do not read");
    pool = new SingleUsePool({
      workerScript,
      size: 2,
      limits: { memoryBytes: 256 * 1024 * 1024, maxProcesses: 48 },
      workerOptions: { failInit: false },
      initBlobs: new Map([["big", Buffer.alloc(5 * 1024 * 1024, 7)]]),
    });
    await pool.start();
  });

  after(async () => {
    await pool.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it("runs a job with its inputs, returns outputs and captured stdout, after a warm init", async () => {
    const r = await pool.run({
      data: { op: "echo", arg: { n: 1 } },
      blobs: new Map([
        ["in1", Buffer.from("abc")],
        ["empty", Buffer.alloc(0)],
      ]),
    });
    const data = r.data as { initialised: boolean; initBlobSizes: object; data: unknown; uid: number };
    assert.equal(data.initialised, true);
    assert.deepEqual(data.initBlobSizes, { big: 5 * 1024 * 1024 });
    assert.deepEqual(data.data, { n: 1 });
    assert.deepEqual([...r.blobs.keys()].sort(), ["empty.out", "in1.out"]);
    assert.equal(r.blobs.get("in1.out")!.toString(), "cba");
    assert.equal(r.blobs.get("empty.out")!.length, 0);
    assert.equal(r.stdout, "hello from the sandbox\n");
    if (process.getuid?.() === 0) assert.ok(data.uid >= 0x7000_0000, "sandbox should run under its own uid");
  });

  it("never reuses a sandbox: each job gets a fresh process", async () => {
    const a = (await pool.run({ data: { op: "echo" } })).data as { uid: number };
    const b = (await pool.run({ data: { op: "echo" } })).data as { uid: number };
    if (process.getuid?.() === 0) assert.notEqual(a.uid, b.uid);
    assert.ok(pool.stats().started >= 4);
  });

  it("gives the worker an empty environment (a host secret is not visible)", async () => {
    const r = await pool.run({ data: { op: "env" } });
    assert.deepEqual((r.data as { env: object }).env, {});
    assert.ok(!JSON.stringify(r).includes(process.env[SECRET_NAME]!));
  });

  it("hides /etc, /home, the repository and data directories", async () => {
    const probe = [
      "/etc/passwd",
      "/etc",
      "/home",
      "/root",
      dataDir,
      join(dataDir, "secret.bin"),
      join(repoRoot, "package.json"),
      join(repoRoot, "node_modules"),
      join(repoRoot, "packages", "core"),
      join(repoRoot, ".git"),
      "/usr/bin/bwrap",
      "/usr/bin/prlimit",
    ];
    const r = await pool.run({ data: { op: "fs", arg: probe } });
    const data = r.data as { visible: Record<string, boolean>; root: string[]; passwd: string | null };
    for (const p of probe) assert.equal(data.visible[p], false, `${p} is visible inside the sandbox`);
    assert.equal(data.passwd, null);
    assert.ok(!data.root.includes("etc") && !data.root.includes("home"), `root has ${data.root.join(",")}`);
  });

  it("allows writes only to its private /tmp", async () => {
    const hostFile = join(dataDir, "written-from-sandbox");
    const r = await pool.run({
      data: { op: "write", arg: ["/tmp/ok", "/x", "/dev/x", workerScript, hostFile, "/usr/x"] },
    });
    const res = r.data as Record<string, string>;
    assert.equal(res["/tmp/ok"], "written");
    for (const p of ["/x", "/dev/x", workerScript, hostFile, "/usr/x"]) {
      assert.notEqual(res[p], "written", `${p} was writable`);
    }
    assert.throws(() => readFileSync(hostFile), { code: "ENOENT" });
  });

  it("has no network: connecting to a host listener or the outside fails", async () => {
    let accepted = 0;
    const server = createServer((s) => {
      accepted++;
      s.destroy();
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const port = (server.address() as { port: number }).port;
    try {
      const local = await pool.run({ data: { op: "connect", arg: ["127.0.0.1", port] } });
      assert.equal(local.data, "ECONNREFUSED");
      const outside = await pool.run({ data: { op: "connect", arg: ["1.1.1.1", 53] } });
      assert.equal(outside.data, "ENETUNREACH");
      assert.equal(accepted, 0);
    } finally {
      server.close();
    }
  });

  it("kills a job at its wall-clock deadline, leaving no process behind", async () => {
    const { marker, call } = await startHanging(pool, "spin", { timeoutMs: 400 });
    await assert.rejects(call, SandboxTimeoutError);
    await assertNoSurvivors(marker);
    await assertServes(pool);
  });

  it("kills a job promptly on cancel, leaving no process behind", async (t) => {
    const ac = new AbortController();
    const { marker, call } = await startHanging(pool, "spin", { signal: ac.signal });
    const t0 = performance.now();
    ac.abort();
    await assert.rejects(call, SandboxAbortedError);
    t.diagnostic(`abort -> rejected (sandbox exited) in ${(performance.now() - t0).toFixed(1)} ms`);
    await assertNoSurvivors(marker);
    await assertServes(pool);
  });

  it("rejects at once when the signal is already aborted", async () => {
    const ac = new AbortController();
    ac.abort();
    await assert.rejects(pool.run({ data: { op: "echo" } }, { signal: ac.signal }), SandboxAbortedError);
  });

  it("fails a JavaScript memory bomb cleanly", async () => {
    const err = await pool.run({ data: { op: "alloc" } }, { timeoutMs: 20_000 }).then(
      () => assert.fail("memory bomb succeeded"),
      (e: unknown) => e,
    );
    assert.ok(err instanceof SandboxJobError || err instanceof SandboxCrashedError, String(err));
    if (err instanceof SandboxJobError) assert.match(err.workerMessage, /allocation failed|memory/i);
    await assertServes(pool);
  });

  it("caps wasm memory growth at the address-space limit", async () => {
    const r = await pool.run({ data: { op: "wasm-alloc" } }, { timeoutMs: 20_000 });
    const { grewTo, error } = r.data as { grewTo: number; error: string };
    assert.equal(error, "RangeError");
    assert.ok(grewTo < pool.limits.memoryBytes + pool.limits.runtimeReserveBytes, `grew to ${grewTo}`);
  });

  it("contains a fork bomb: the process limit refuses it and a kill removes every child", async () => {
    const counted = await pool.run(
      { data: { op: "forkbomb", arg: "report", marker: newMarker() } },
      { timeoutMs: 20_000 },
    );
    const { spawned, refused } = counted.data as { spawned: number; refused: string };
    if (process.getuid?.() === 0) {
      assert.equal(refused, "EAGAIN");
      assert.ok(spawned < pool.limits.maxProcesses);
    }
    const { marker, call } = await startHanging(pool, "forkbomb", { timeoutMs: 1500 });
    await assert.rejects(call, SandboxTimeoutError);
    await assertNoSurvivors(marker);
    await assertServes(pool);
  });

  it("reports a worker that exits without a result as a crash", async () => {
    await assert.rejects(pool.run({ data: { op: "crash" } }), (e: unknown) => {
      assert.ok(e instanceof SandboxCrashedError);
      assert.equal(e.kind, "crashed");
      return true;
    });
    await assertServes(pool);
  });

  it("reports an exception in the worker's run as a job error", async () => {
    await assert.rejects(pool.run({ data: { op: "throw" } }), (e: unknown) => {
      assert.ok(e instanceof SandboxJobError);
      assert.match(e.workerMessage, /worker says no/);
      return true;
    });
    await assertServes(pool);
  });

  it("kills a worker that sends an oversized frame", async () => {
    await assert.rejects(pool.run({ data: { op: "garbage" } }), (e: unknown) => {
      assert.ok(e instanceof SandboxReplyTooLargeError);
      assert.equal(e.part, "frame");
      return true;
    });
    await assertServes(pool);
  });

  it("moves large inputs and outputs intact", async () => {
    const big = randomBytes(8 * 1024 * 1024);
    const r = await pool.run({ data: { op: "echo" }, blobs: new Map([["big", big]]) });
    assert.ok(r.blobs.get("big.out")!.equals(Buffer.from(big).reverse()));
  });

  it("sees a worker script under the host's /tmp (binds are not hidden by the private /tmp)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "cloister-worker-"));
    chmodSync(dir, 0o755);
    const script = join(dir, "w.mjs");
    writeFileSync(script, "export function run() { return { data: 'from tmp' }; }\n");
    chmodSync(script, 0o644);
    const p = new SingleUsePool({ workerScript: script, size: 1 });
    try {
      assert.equal((await p.run({})).data, "from tmp");
    } finally {
      await p.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("runs more jobs than sandboxes by queueing", async () => {
    const results = await Promise.all(
      Array.from({ length: 5 }, (_, i) => pool.run({ data: { op: "echo", arg: i } })),
    );
    assert.deepEqual(
      results.map((r) => (r.data as { data: number }).data),
      [0, 1, 2, 3, 4],
    );
  });
});

describe("SingleUsePool start-up checks", () => {
  it("fails with SandboxUnavailableError when bubblewrap is missing", () => {
    assert.throws(
      () => new SingleUsePool({ workerScript, bwrapPath: "/nonexistent/bwrap" }),
      SandboxUnavailableError,
    );
  });

  it("fails with SandboxUnavailableError when bubblewrap cannot create namespaces", async () => {
    const dir = mkdtempSync(join(tmpdir(), "cloister-fakebwrap-"));
    chmodSync(dir, 0o755);
    const fake = join(dir, "bwrap");
    writeFileSync(fake, "#!/bin/sh\necho 'bwrap: No permissions to create new namespace' >&2\nexit 1\n");
    chmodSync(fake, 0o755);
    const pool = new SingleUsePool({ workerScript, bwrapPath: fake, size: 1 });
    try {
      await assert.rejects(pool.start(), (e: unknown) => {
        assert.ok(e instanceof SandboxUnavailableError);
        assert.match(e.message, /namespace/);
        return true;
      });
      await assert.rejects(pool.run({ data: { op: "echo" } }), SandboxUnavailableError);
      // Workers may have been spawned beside the probe (through the same broken bwrap, so nothing
      // ran unsandboxed), but none may be left, and no job reached one.
      assert.equal(pool.stats().running, 0, "no job ran");
      assert.equal(pool.stats().spare, 0, "no worker is left for a job");
    } finally {
      await pool.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("fails start() with SandboxStartError when the worker's init throws", async () => {
    const pool = new SingleUsePool({ workerScript, size: 1, workerOptions: { failInit: true } });
    try {
      await assert.rejects(pool.start(), (e: unknown) => {
        assert.ok(e instanceof SandboxStartError);
        assert.match(e.message, /init refused/);
        return true;
      });
    } finally {
      await pool.close();
    }
  });

  it("rejects a running job with SandboxClosedError when the pool closes", async () => {
    const pool = new SingleUsePool({ workerScript, size: 1 });
    const { marker, call } = await startHanging(pool, "spin", {});
    await pool.close();
    await assert.rejects(call, SandboxClosedError);
    await assertNoSurvivors(marker);
    await assert.rejects(pool.run({ data: { op: "echo" } }), SandboxClosedError);
  });

  it("rejects a relative worker script path", () => {
    assert.throws(() => new SingleUsePool({ workerScript: "worker.js" }), TypeError);
  });

  it("errors are SandboxErrors with a kind", () => {
    assert.equal(new SandboxTimeoutError(5).kind, "timeout");
    assert.ok(new SandboxTimeoutError(5) instanceof SandboxError);
  });
});

it("two processes on one host claim different sandbox uid blocks", async () => {
  const { execFileSync } = await import("node:child_process");
  const { mkdtempSync } = await import("node:fs");
  const { tmpdir } = await import("node:os");
  const dir = mkdtempSync(`${tmpdir()}/uid-locks-`);
  const index = new URL("../src/index.js", import.meta.url).pathname;
  const script = `import(${JSON.stringify(index)}).then((m) => { console.log(m.sandboxUidBlock().first); setTimeout(() => {}, 1500); })`;
  const { spawn } = await import("node:child_process");
  const holder = spawn(process.execPath, ["-e", script], {
    env: { ...process.env, CLOISTER_SANDBOX_UID_LOCK_DIR: dir },
  });
  const first = await new Promise<string>((resolve) =>
    holder.stdout.once("data", (b) => resolve(String(b).trim())),
  );
  const second = execFileSync(process.execPath, ["-e", script.replace("1500", "0")], {
    env: { ...process.env, CLOISTER_SANDBOX_UID_LOCK_DIR: dir },
  })
    .toString()
    .trim();
  holder.kill();
  assert.notEqual(first, second);
});
