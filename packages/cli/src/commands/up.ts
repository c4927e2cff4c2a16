import { type ChildProcess, spawn } from "node:child_process";
import { createWriteStream, mkdirSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import type { CloisterConfig, ServiceName } from "@cloister/config";
import { preparePlatform } from "@cloister/host";
import { prepareLocalFiles } from "../local-files.js";
import { START_ORDER } from "../services.js";
import { READY_MARKER } from "./service.js";

interface Child {
  name: ServiceName;
  process: ChildProcess;
  endpoints: Array<{ name: string; address: string }>;
}

export interface UpOptions {
  configFile?: string | undefined;
  /** Resolves once every service is ready (used by tests and benchmarks). */
  onReady?: (children: Child[]) => void;
  out?: (line: string) => void;
}

/**
 * `cloister up`: every service as its own process (as in a real deployment, each with its own
 * measurement and crash domain), all on this machine, sharing one data directory. Service logs
 * go to `<data>/logs/<service>.log`. Ctrl-C stops everything cleanly.
 */
export async function up(config: CloisterConfig, options: UpOptions = {}): Promise<void> {
  const out = options.out ?? ((line: string) => process.stdout.write(`${line}\n`));
  const prepared = await preparePlatform(config);
  const logs = join(config.data_dir, "logs");
  mkdirSync(logs, { recursive: true });

  out("Cloister is starting with a SIMULATED TEE: attestation works end to end, but there is no hardware");
  out("guarantee behind it, and every attestation report says so.");
  out(`  data directory           ${config.data_dir}`);
  out(`  attestation root CA      ${prepared.asRootCa}`);
  out(
    `  enclave info             ${prepared.enclaveInfo}${prepared.changed ? "  (code changed: re-measured and re-signed)" : ""}`,
  );
  out(`  auditor signature        ${prepared.auditorSignature}`);
  out(`  service logs             ${logs}/`);
  for (const line of prepareLocalFiles(config)) out(line);

  const main = process.argv[1]!;
  const args = [
    "service",
    "--data-dir",
    config.data_dir,
    ...(options.configFile ? ["--config", options.configFile] : []),
  ];
  const children: Child[] = [];
  let shuttingDown = false;

  const shutdown = async (code: number) => {
    if (shuttingDown) return;
    shuttingDown = true;
    out("Stopping Cloister…");
    // Dependents first (execution … storage), so the frontend can still ship its last audit
    // entries to management and nothing waits on a peer that is already gone.
    const byOrder = [...children].sort((a, b) => START_ORDER.indexOf(b.name) - START_ORDER.indexOf(a.name));
    for (const c of byOrder) {
      await new Promise<void>((resolve) => {
        if (c.process.exitCode !== null || c.process.signalCode !== null) return resolve();
        const kill = setTimeout(() => c.process.kill("SIGKILL"), 10_000);
        c.process.once("exit", () => {
          clearTimeout(kill);
          resolve();
        });
        c.process.kill("SIGTERM");
      });
    }
    out("Cloister stopped.");
    process.exit(code);
  };
  process.on("SIGINT", () => void shutdown(0));
  process.on("SIGTERM", () => void shutdown(0));

  const ready = START_ORDER.map(
    (name) =>
      new Promise<Child>((resolve, reject) => {
        const log = createWriteStream(join(logs, `${name}.log`), { flags: "a" });
        const proc = spawn(process.execPath, [main, ...args.slice(0, 1), name, ...args.slice(1)], {
          stdio: ["ignore", "pipe", "pipe"],
          env: { ...process.env, CLOISTER_HOME: config.data_dir },
        });
        proc.stderr!.pipe(log);
        const child: Child = { name, process: proc, endpoints: [] };
        children.push(child);
        createInterface({ input: proc.stdout! }).on("line", (line) => {
          try {
            const msg = JSON.parse(line) as Record<string, unknown>;
            if (msg[READY_MARKER] === name) {
              child.endpoints = msg.endpoints as Child["endpoints"];
              resolve(child);
            }
          } catch {
            log.write(`${line}\n`);
          }
        });
        // The service's last words (its one-line error, e.g. a port in use) are in its stderr.
        let lastLine = "";
        proc.stderr!.on("data", (chunk: Buffer) => {
          const lines = chunk.toString("utf8").trim().split("\n");
          lastLine = lines[lines.length - 1] ?? lastLine;
        });
        proc.once("exit", (code, signal) => {
          const reason = lastLine.startsWith("cloister:")
            ? `: ${lastLine.slice("cloister:".length).trim()}`
            : "";
          const why = `the ${name} service exited (${signal ?? `code ${code}`})${reason}; see ${join(logs, `${name}.log`)}`;
          if (!shuttingDown) {
            out(`error: ${why}`);
            void shutdown(1);
          }
          reject(new Error(why));
        });
      }),
  );
  let started: Child[];
  try {
    started = await Promise.all(ready);
  } catch {
    return; // shutdown is under way
  }
  for (const c of started) for (const e of c.endpoints) out(`  ${e.name.padEnd(26)} ${e.address}`);
  out("Log in as admin / teaclave (change the password). Press Ctrl-C to stop.");
  out("Cloister is ready.");
  options.onReady?.(started);
}
