import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { after, test } from "node:test";
import { CLI, client, echo, type Platform, platformConfig, startPlatform } from "../src/index.js";

// `cloister up` supervises its services: one that dies is restarted while the others keep
// serving; a service that cannot start at all stops `up` with a message that says what to change.

let platform: Platform | undefined;
after(async () => {
  await platform?.stop();
});

function servicePid(up: number, name: string): number | undefined {
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      if (Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]) !== up) continue;
      const argv = readFileSync(`/proc/${entry}/cmdline`, "utf8").split("\0");
      if (argv[argv.indexOf("service") + 1] === name) return Number(entry);
    } catch {
      // ended meanwhile
    }
  }
  return undefined;
}

test("a service killed under cloister up is restarted, and a task still completes", async () => {
  platform = await startPlatform(await platformConfig(undefined, '[execution]\nexecutors = ["builtin"]\n'));
  const c = client(platform);
  try {
    await c.login("admin", "teaclave");
    // The default (combined) topology: the control-plane process and the execution node.
    for (const [name, what] of [
      ["control-plane", "the control-plane process"],
      ["execution", "the execution service"],
    ] as const) {
      const pid = servicePid(platform.pid, name);
      assert.ok(pid, `${name} runs under up`);
      process.kill(pid, "SIGKILL");
      while (!platform.output.some((l) => l.includes(`${what} is serving again`)))
        await new Promise((r) => setTimeout(r, 100));
      assert.ok(platform.output.some((l) => l.includes(`${what} exited (SIGKILL)`)));
      assert.equal(await echo(c, `after ${name}`), `after ${name}`);
    }
  } finally {
    c.close();
  }
});

test("services of a cloister up that was killed stop by themselves (no orphans holding ports)", async () => {
  const own = await startPlatform(await platformConfig(undefined, '[execution]\nexecutors = ["builtin"]\n'));
  const pids = ["control-plane", "execution"].map((n) => servicePid(own.pid, n));
  assert.ok(pids.every((p) => p !== undefined));
  process.kill(own.pid, "SIGKILL");
  // A process that has exited but not yet been reaped (its parent, `up`, is gone and the
  // adopting init may reap late) still answers kill(0): count zombies as stopped.
  const alive = (pid: number) => {
    try {
      process.kill(pid, 0);
    } catch {
      return false;
    }
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
    } catch {
      return false;
    }
  };
  const deadline = Date.now() + 30_000;
  while (pids.some((p) => alive(p!)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  assert.deepEqual(
    pids.filter((p) => alive(p!)),
    [],
  );
});

test("a port that is taken stops up with the configuration key that moves it", async () => {
  const setup = await platformConfig(undefined, '[execution]\nexecutors = ["builtin"]\n');
  const squatter = createServer();
  await new Promise<void>((r) => squatter.listen(setup.ports.frontend, "127.0.0.1", r));
  try {
    const child = spawn(
      process.execPath,
      [CLI, "--data-dir", setup.dataDir, "--config", setup.configFile, "up"],
      {
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let output = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => {
      output += d;
    });
    const [code] = (await once(child, "exit")) as [number];
    assert.equal(code, 1);
    assert.match(output, /EADDRINUSE/);
    assert.match(
      output,
      new RegExp(`127\\.0\\.0\\.1:${setup.ports.frontend} \\(listen\\.frontend\\) is taken`),
    );
    assert.match(output, /\[listen\]\n\s+frontend = "127\.0\.0\.1:<free port>"/);
    assert.match(output, new RegExp(`in ${setup.configFile.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}`));
    assert.match(output, /the control-plane process cannot start; stopping Cloister/);
  } finally {
    squatter.close();
  }
});

test("internal endpoints default to loopback under up; the file's [listen] still wins", async () => {
  const { loadConfig } = await import("@cloister/config");
  const setup = await platformConfig();
  const file = `${setup.configFile}.loopback.toml`;
  writeFileSync(file, '[listen]\nstorage = "0.0.0.0:17000"\n');
  const config = loadConfig({ file, env: { CLOISTER_INTERNAL_HOST: "127.0.0.1" } });
  assert.equal(config.listen.storage, "0.0.0.0:17000");
  assert.equal(config.listen.scheduler, "127.0.0.1:17780");
  assert.equal(config.listen.management, "127.0.0.1:17777");
  assert.equal(config.listen.authentication_internal, "127.0.0.1:17776");
  assert.equal(config.listen.frontend, "0.0.0.0:7777"); // API ports stay where users expect them
  assert.equal(
    loadConfig({ file, env: { CLOISTER_INTERNAL_HOST: "::1" } }).listen.access_control,
    "[::1]:17779",
  );
  assert.equal(loadConfig({ file, env: {} }).listen.scheduler, "0.0.0.0:17780"); // cloister service
});
