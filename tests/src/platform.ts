import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { SERVICE_NAMES } from "@cloister/config";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
export const CLI = join(ROOT, "packages", "cli", "dist", "src", "main.js");
export const DESCRIPTORS = join(ROOT, "packages", "proto", "descriptors.binpb");
export const PYTHON_CLIENT = join(ROOT, "tests", "interop", "python_client.py");
export const FIXTURES = join(ROOT, "fixtures", "teaclave");

/** Runs a Python interop client (Debian python3 with gRPC C-core) against `platform`; resolves with its stdout. */
export function runPython(
  script: string,
  platform: Pick<Platform, "dataDir" | "authentication" | "frontend">,
  ...extra: string[]
): Promise<{ stdout: string }> {
  const args = [
    script,
    "--data-dir",
    platform.dataDir,
    "--auth",
    platform.authentication,
    "--frontend",
    platform.frontend,
  ];
  return promisify(execFile)("/usr/bin/python3", [...args, "--descriptors", DESCRIPTORS, ...extra]);
}

export async function freePort(): Promise<number> {
  return (await freePorts(1))[0]!;
}

/**
 * The lowest port the kernel hands out to outgoing connections (Linux's ephemeral range). A
 * listening port picked from that range can be taken by some other test's outgoing connection
 * between the pick and the platform's (re)start — seen as EADDRINUSE on a restart — so test
 * platforms take their ports from below it.
 */
function ephemeralLow(): number {
  try {
    const low = Number(readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/)[0]);
    if (Number.isInteger(low) && low > 4096) return low;
  } catch {}
  return 32768;
}

/** Ports this process has handed out: two platforms of one test file never share one. */
const handedOut = new Set<number>();

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once("error", () => resolve(false));
    s.listen(port, "127.0.0.1", () => s.close(() => resolve(true)));
  });
}

/** `n` distinct free ports on 127.0.0.1, drawn at random from the 12000 below the ephemeral range. */
export async function freePorts(n: number): Promise<number[]> {
  const high = ephemeralLow() - 1;
  const low = Math.max(1024, high - 12_000);
  const ports: number[] = [];
  for (let attempt = 0; ports.length < n; attempt++) {
    if (attempt > 50_000) throw new Error(`no ${n} free ports in ${low}-${high}`);
    const port = low + Math.floor(Math.random() * (high - low + 1));
    if (handedOut.has(port) || !(await canListen(port))) continue;
    handedOut.add(port);
    ports.push(port);
  }
  return ports;
}

export interface Platform {
  dataDir: string;
  configFile: string;
  authentication: string;
  frontend: string;
  ports: Record<string, number>;
  output: string[];
  /** Process id of `cloister up` (its services are its children). */
  pid: number;
  stop(): Promise<void>;
}

/** Writes a configuration with free ports so several platforms can run side by side in tests. */
export async function platformConfig(dataDir = mkdtempSync(join(tmpdir(), "cloister-e2e-")), extra = "") {
  const names = [
    "authentication_api",
    "frontend",
    "authentication_internal",
    "management",
    "storage",
    "access_control",
    "scheduler",
  ];
  const ports: Record<string, number> = {};
  const picked = await freePorts(names.length + SERVICE_NAMES.length);
  names.forEach((n, i) => {
    ports[n] = picked[i]!;
  });
  const listen = names.map((n) => `${n} = "127.0.0.1:${ports[n]}"`).join("\n");
  const advertised = [
    ["authentication", ports.authentication_internal],
    ["management", ports.management],
    ["storage", ports.storage],
    ["access_control", ports.access_control],
    ["scheduler", ports.scheduler],
  ]
    .map(([n, p]) => `${n} = "https://localhost:${p}"`)
    .join("\n");
  // Every service's operations endpoint on a free port too (never the fixed local defaults).
  const opsNames = SERVICE_NAMES;
  opsNames.forEach((n, i) => {
    ports[`ops_${n}`] = picked[names.length + i]!;
  });
  const ops = opsNames.map((n) => `${n} = "127.0.0.1:${ports[`ops_${n}`]}"`).join("\n");
  const configFile = join(dataDir, "cloister.toml");
  writeFileSync(
    configFile,
    `log_level = "info"\n${extra}\n[listen]\n${listen}\n[advertised]\n${advertised}\n[ops.listen]\n${ops}\n`,
  );
  return { dataDir, configFile, ports };
}

type Setup = { dataDir: string; configFile: string; ports: Record<string, number> };

/**
 * `cloister up` as a child process; resolves once it prints that it is ready. Without an existing
 * configuration it picks free ports, and picks again if another process took one meanwhile.
 */
export async function startPlatform(existing?: Setup): Promise<Platform> {
  if (existing) return launchOnce(existing);
  for (let attempt = 1; ; attempt++) {
    try {
      return await launchOnce(await platformConfig());
    } catch (e) {
      if (attempt >= 4 || !String(e).includes("EADDRINUSE")) throw e;
    }
  }
}

async function launchOnce(setup: Setup): Promise<Platform> {
  const { dataDir, configFile, ports } = setup;
  const child: ChildProcess = spawn(
    process.execPath,
    [CLI, "--data-dir", dataDir, "--config", configFile, "up"],
    {
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  const output: string[] = [];
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      // Not left running behind a failed test (it would keep the test process alive).
      child.kill("SIGINT");
      reject(new Error(`platform did not start:\n${output.join("\n")}`));
    }, 120_000); // generous: a first start generates keys, and CI machines may be loaded
    child.stdout!.setEncoding("utf8").on("data", (chunk: string) => {
      output.push(...chunk.split("\n").filter(Boolean));
      if (chunk.includes("Cloister is ready.")) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.stderr!.setEncoding("utf8").on("data", (chunk: string) => output.push(chunk));
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`platform exited with ${code}:\n${output.join("\n")}`));
    });
  });
  return {
    dataDir,
    configFile,
    ports,
    output,
    pid: child.pid!,
    authentication: `localhost:${ports.authentication_api}`,
    frontend: `localhost:${ports.frontend}`,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once("exit", () => resolve());
        child.kill("SIGINT");
      }),
  };
}
