import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { readdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import type { CloisterClient } from "@cloister/sdk";
import { CLI, client, platformConfig } from "../src/index.js";

// The attacks of issue 14 against `cloister up`: started from a shell that holds a directory
// (fd 200) and a pipe (fd 251) open without close-on-exec, no sandbox of any executor may hold
// either, and a Python payload that leaves Pyodide through its bridge must find neither; the
// same payload forging a 20 MiB result frame fails its task at once, saying why; and a second
// execution node on the same host runs sandboxed tasks beside the first without sharing a uid.

let up: ChildProcess;
/** A second execution node on the same host, as a second node process would be. */
let second: ChildProcess;
let setup: Awaited<ReturnType<typeof platformConfig>>;
let c: CloisterClient;
let hostFds: Record<string, string> = {};

function fdTargets(pid: number): Record<string, string> {
  const out: Record<string, string> = {};
  try {
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      try {
        out[fd] = readlinkSync(`/proc/${pid}/fd/${fd}`);
      } catch {}
    }
  } catch {}
  return out;
}

function descendants(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(name)]);
    } catch {}
  }
  const out: number[] = [];
  const todo = [...(children.get(root) ?? [])];
  while (todo.length) {
    const pid = todo.pop()!;
    out.push(pid);
    todo.push(...(children.get(pid) ?? []));
  }
  return out;
}

const filtered = (pid: number) => {
  try {
    return /^Seccomp:\s+2$/m.test(readFileSync(`/proc/${pid}/status`, "utf8"));
  } catch {
    return false;
  }
};
const exe = (pid: number) => {
  try {
    return readlinkSync(`/proc/${pid}/exe`);
  } catch {
    return "";
  }
};

/** Runs `js` in the Python executor's sandbox the way an attacker does: out of Pyodide, into its JavaScript. */
async function runEscaped(js: string): Promise<Buffer> {
  const payload = [
    "import sys",
    "def entrypoint(argv):",
    "    sys.meta_path[:] = [f for f in sys.meta_path if getattr(f, '__name__', '') != 'BlockedImports']",
    "    import _pyodide_core",
    "    Function = _pyodide_core.to_js({}).constructor.constructor",
    `    return Function(${JSON.stringify(js)})()`,
  ].join("\n");
  const functionId = await c.registerFunction({
    name: "escape",
    executorType: "python",
    payload: Buffer.from(payload),
  });
  const taskId = await c.createTask({ functionId, executor: "mesapy" });
  await c.invokeTask(taskId);
  return c.taskResult(taskId, { timeoutMs: 120_000 });
}

before(async () => {
  setup = await platformConfig();
  const fifo = join(setup.dataDir, "stray.fifo");
  up = spawn(
    "/bin/bash",
    [
      "-c",
      'mkfifo "$1" && exec 200</ 251<>"$1" && exec "$2" "$3" --data-dir "$4" --config "$5" up',
      "stray",
      fifo,
      process.execPath,
      CLI,
      setup.dataDir,
      setup.configFile,
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let output = "";
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`platform did not start:\n${output}`)), 90_000);
    up.stdout!.setEncoding("utf8").on("data", (d: string) => {
      output += d;
      if (output.includes("Cloister is ready.")) {
        clearTimeout(timer);
        resolve();
      }
    });
    up.stderr!.setEncoding("utf8").on("data", (d: string) => {
      output += d;
    });
    up.once("exit", (code) => reject(new Error(`platform exited with ${code}:\n${output}`)));
  });
  hostFds = fdTargets(up.pid!);
  // Same platform, javascript only: the cheapest sandboxes to churn through.
  const secondConfig = join(setup.dataDir, "second-node.toml");
  writeFileSync(
    secondConfig,
    `${readFileSync(setup.configFile, "utf8")}\n[execution]\nexecutors = ["javascript"]\n`,
  );
  second = spawn(
    process.execPath,
    [CLI, "--data-dir", setup.dataDir, "--config", secondConfig, "service", "execution"],
    {
      stdio: ["ignore", "pipe", "pipe"],
      // Its own operations endpoint: the configuration's is the first node's.
      env: { ...process.env, CLOISTER_OPS_LISTEN_EXECUTION: "127.0.0.1:0" },
    },
  );
  let secondLog = "";
  second.stderr!.setEncoding("utf8").on("data", (d: string) => {
    secondLog += d;
  });
  await Promise.race([
    new Promise<void>((resolve) =>
      second.stdout!.setEncoding("utf8").on("data", (d: string) => {
        if (d.includes("cloister-service-ready")) resolve();
      }),
    ),
    once(second, "exit").then(() => {
      throw new Error(`second execution node exited:\n${secondLog}`);
    }),
  ]);
  c = client({
    dataDir: setup.dataDir,
    authentication: `localhost:${setup.ports.authentication_api}`,
    frontend: `localhost:${setup.ports.frontend}`,
  });
  await c.login("admin", "teaclave");
});

after(async () => {
  c?.close();
  if (second && second.exitCode === null) {
    const exited = once(second, "exit");
    second.kill("SIGTERM");
    await exited;
  }
  if (up && up.exitCode === null) {
    const exited = new Promise((r) => up.once("exit", r));
    up.kill("SIGINT");
    await exited;
  }
  rmSync(setup.dataDir, { recursive: true, force: true });
});

test("the platform process holds the stray descriptors (the test's premise)", () => {
  assert.equal(hostFds["200"], "/");
  assert.match(hostFds["251"] ?? "", /stray\.fifo$/);
});

test("no sandbox of any executor holds a descriptor of the host", async () => {
  // One warm sandbox per sandboxed executor (wamr, javascript, python; pool size 1).
  const deadline = Date.now() + 90_000;
  let sandboxed: number[] = [];
  while (Date.now() < deadline) {
    sandboxed = descendants(up.pid!).filter((p) => filtered(p) && /\/node[^/]*$/.test(exe(p)));
    if (sandboxed.length >= 3) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  assert.ok(sandboxed.length >= 3, `only ${sandboxed.length} sandboxed workers found`);
  const host = new Set(
    Object.values(hostFds).filter((t) => t !== "/dev/null" && !t.startsWith("anon_inode:")),
  );
  // `cloister up` runs every service as its own node process; those are the host and inherit
  // the descriptors like it. Checked: each sandbox, from its bwrap down to the worker.
  const below = descendants(up.pid!);
  const checked = below.filter((p) => /\/(bwrap|prlimit)$/.test(exe(p)));
  for (const p of [...checked]) checked.push(...descendants(p));
  assert.ok(sandboxed.every((p) => checked.includes(p)));
  for (const pid of checked) {
    for (const [fd, t] of Object.entries(fdTargets(pid))) {
      assert.ok(!host.has(t), `pid ${pid} (${exe(pid)}) holds the platform's ${t} as fd ${fd}`);
    }
  }
});

test("a Python payload that escapes into JavaScript finds none of them", async () => {
  const js = `
    const fs = process.getBuiltinModule("fs");
    const open = [];
    for (let fd = 0; fd < 4096; fd++) {
      try { const s = fs.fstatSync(fd); open.push([fd, s.ino, s.dev, s.isDirectory()]); } catch {}
    }
    let via = "";
    try { via = fs.readdirSync("/proc/self/fd/200/etc").length; } catch (e) { via = e.code; }
    return JSON.stringify({ open, via });`;
  const seen = JSON.parse((await runEscaped(js)).toString()) as {
    open: Array<[number, number, number, boolean]>;
    via: unknown;
  };
  const dir = statSync("/");
  const fifo = statSync(join(setup.dataDir, "stray.fifo"));
  assert.equal(seen.via, "ENOENT", "no /proc/self/fd path back to the host");
  for (const [fd, ino, dev, isDir] of seen.open) {
    assert.ok(!(ino === dir.ino && dev === dir.dev), `the host's / is open inside as fd ${fd}`);
    assert.ok(!(ino === fifo.ino && dev === fifo.dev), `the host's pipe is open inside as fd ${fd}`);
    assert.ok(!isDir, `a directory is open inside as fd ${fd}`);
    assert.ok(fd < 200, `a descriptor at a stray number (${fd}) is open inside`);
  }
  assert.deepEqual(
    seen.open.slice(0, 4).map(([fd]) => fd),
    [0, 1, 2, 3],
  );
});

test("a forged 20 MiB result frame fails the task at once with a reason that says so", async () => {
  const js = `
    const fs = process.getBuiltinModule("fs");
    const head = Buffer.from(JSON.stringify({ t: "result", data: { value: "v".repeat(20 * 1024 * 1024), outputs: [] }, $blobs: [] }));
    const prefix = Buffer.alloc(8);
    prefix.writeUInt32BE(4 + head.length, 0);
    prefix.writeUInt32BE(head.length, 4);
    for (const part of [prefix, head]) {
      for (let off = 0; off < part.length; ) {
        try { off += fs.writeSync(3, part, off); } catch (e) { if (e.code !== "EAGAIN") throw e; }
      }
    }
    for (;;) {}`;
  await assert.rejects(runEscaped(js), (e: unknown) => {
    assert.match(
      String((e as Error).message),
      /^task failed: Runtime Error: reply too large: the result .* exceeds the limit/,
    );
    return true;
  });
});

test("two execution nodes on one host run sandboxed tasks under load, never sharing a uid", async () => {
  const functionId = await c.registerFunction({
    name: "spin",
    executorType: "javascript",
    payload: Buffer.from(
      "function entrypoint(argv) { let x = 0; for (let i = 0; i < 2e6; i++) x += i; return String(argv.length); }",
    ),
  });
  // Both nodes pull from one queue: every task starts a fresh sandbox on one of them, and each
  // node refills its pools meanwhile.
  const values = await Promise.all(
    Array.from({ length: 16 }, async () => {
      const taskId = await c.createTask({ functionId, executor: "javascript" });
      await c.invokeTask(taskId);
      return (await c.taskResult(taskId, { timeoutMs: 180_000 })).toString();
    }),
  );
  assert.deepEqual(values, Array(16).fill("0"));
  const uidsUnder = (root: number) =>
    descendants(root)
      .filter((p) => filtered(p) && /\/node[^/]*$/.test(exe(p)))
      .map((p) => {
        try {
          return Number(/^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${p}/status`, "utf8"))?.[1]);
        } catch {
          return Number.NaN;
        }
      })
      .filter((u) => Number.isInteger(u));
  // Per-sandbox uids exist only when the platform runs as root (otherwise every sandbox runs as
  // the host's user and RLIMIT_NPROC is not applied).
  if (process.getuid?.() !== 0) return;
  const block = (uid: number) => Math.floor(uid / 4096);
  const first = new Set(uidsUnder(up.pid!).map(block));
  const other = new Set(uidsUnder(second.pid!).map(block));
  assert.ok(first.size > 0 && other.size > 0, "both nodes hold warm sandboxes");
  assert.deepEqual(
    [...first].filter((b) => other.has(b)),
    [],
    "the nodes' sandboxes share a uid block",
  );
});
