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
// either, and a Python payload looking through every descriptor it has must find neither; a
// 20 MiB result fails its task at once, saying why; and a second execution node on the same host
// runs sandboxed tasks beside the first without sharing a uid.

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

/** Runs a Python 3 payload (Debian CPython in the python executor's sandbox) as a mesapy task. */
async function runPython(source: string): Promise<Buffer> {
  const functionId = await c.registerFunction({
    name: "probe",
    executorType: "python",
    payload: Buffer.from(source),
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
    // Node workers (wamr, javascript) and the python executor's CPython zygote.
    sandboxed = descendants(up.pid!).filter(
      (p) => filtered(p) && /\/(node[^/]*|python3(\.\d+)?)$/.test(exe(p)),
    );
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

test("a Python payload finds none of them", async () => {
  const payload = [
    "import json, os, stat",
    "def entrypoint(argv):",
    "    found = []",
    "    for fd in range(4096):",
    "        try:",
    "            s = os.fstat(fd)",
    "        except OSError:",
    "            continue",
    "        found.append([fd, s.st_ino, s.st_dev, stat.S_ISDIR(s.st_mode)])",
    "    try:",
    "        via = len(os.listdir('/proc/self/fd/200/etc'))",
    "    except OSError as e:",
    "        via = type(e).__name__",
    "    return json.dumps({'open': found, 'via': via})",
  ].join("\n");
  const seen = JSON.parse((await runPython(payload)).toString()) as {
    open: Array<[number, number, number, boolean]>;
    via: unknown;
  };
  const dir = statSync("/");
  const fifo = statSync(join(setup.dataDir, "stray.fifo"));
  assert.equal(seen.via, "FileNotFoundError", "no /proc/self/fd path back to the host");
  assert.ok(seen.open.length >= 1, "the probe saw its own descriptors");
  for (const [fd, ino, dev, isDir] of seen.open) {
    assert.ok(!(ino === dir.ino && dev === dir.dev), `the host's / is open inside as fd ${fd}`);
    assert.ok(!(ino === fifo.ino && dev === fifo.dev), `the host's pipe is open inside as fd ${fd}`);
    assert.ok(!isDir, `a directory is open inside as fd ${fd}`);
    assert.ok(fd < 200, `a descriptor at a stray number (${fd}) is open inside`);
  }
});

test("a 20 MiB return value fails the task at once with a reason that says so", async () => {
  // The CPython child never holds the host channel, so it cannot forge a frame; an honest but
  // oversized result must still be refused by the host, not buffered or timed out.
  await assert.rejects(
    runPython("def entrypoint(argv):\n    return 'v' * (20 * 1024 * 1024)\n"),
    (e: unknown) => {
      assert.match(String((e as Error).message), /too (large|long|short)|exceeds|BUFFER_TOO_SHORT/i);
      assert.doesNotMatch(String((e as Error).message), /Timeout/);
      return true;
    },
  );
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
