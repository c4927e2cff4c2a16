import { type ChildProcess, spawn } from "node:child_process";
import { createWriteStream, mkdirSync, type WriteStream } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { type CloisterConfig, loadConfig, type ServiceName } from "@cloister/config";
import { type ProcessSpec, preparePlatform, processesOf } from "@cloister/host";
import { prepareLocalFiles } from "../local-files.js";
import { READY_MARKER } from "./service.js";
import { INTERNAL_HOST_ENV, listenKeysOf, portClashHint } from "./up-ports.js";

interface Child {
  /** The process's name: a service, or `control-plane` (see `topology`). */
  name: string;
  process: ChildProcess;
  endpoints: Array<{ name: string; address: string }>;
}

export interface UpOptions {
  configFile?: string | undefined;
  /** Host the internal endpoints bind to when the configuration does not say (default loopback). */
  internalHost?: string | undefined;
  /** Resolves once every service is ready (used by tests and benchmarks). */
  onReady?: (children: Child[]) => void;
  out?: (line: string) => void;
}

/** A service that exits this many times in a row without ever becoming ready cannot start. */
const MAX_FAILED_STARTS = 3;
/** Restart delays grow with crashes in this window and shrink back once a service stays up. */
const CRASH_WINDOW_MS = 60_000;
const MAX_BACKOFF_MS = 10_000;

/**
 * `cloister up`: the platform's processes on this machine, sharing one data directory — under
 * the `combined` topology (default) one control-plane process and the execution node, under
 * `split` every service as its own process (each its own measurement and crash domain). A process
 * that dies is restarted with back-off while the others keep serving (their clients retry); `up`
 * stops only on Ctrl-C/SIGTERM, or when a process cannot start at all. Logs go to
 * `<data>/logs/<process>.log`. Internal endpoints bind to loopback unless configured otherwise.
 */
export async function up(config: CloisterConfig, options: UpOptions = {}): Promise<void> {
  const out = options.out ?? ((line: string) => process.stdout.write(`${line}\n`));
  const prepared = await preparePlatform(config);
  const logs = join(config.data_dir, "logs");
  mkdirSync(logs, { recursive: true });
  const internalHost = options.internalHost ?? "127.0.0.1";
  // What the services will bind: the same configuration, read as they read it.
  const served = loadConfig({
    file: options.configFile,
    overrides: { data_dir: config.data_dir },
    env: { ...process.env, [INTERNAL_HOST_ENV]: internalHost },
  });

  out("Cloister is starting with a SIMULATED TEE: attestation works end to end, but there is no hardware");
  out("guarantee behind it, and every attestation report says so.");
  out(`  data directory           ${config.data_dir}`);
  out(`  attestation root CA      ${prepared.asRootCa}`);
  out(
    `  enclave info             ${prepared.enclaveInfo}${prepared.created ? "  (new: measured and signed)" : prepared.changed ? "  (code changed: re-measured and re-signed)" : ""}`,
  );
  out(`  auditor signature        ${prepared.auditorSignature}`);
  out(`  service logs             ${logs}/`);
  for (const line of prepareLocalFiles(config)) out(line);

  const main = process.argv[1]!;
  const baseArgs = [
    "--data-dir",
    config.data_dir,
    ...(options.configFile ? ["--config", options.configFile] : []),
  ];
  const processes = processesOf(served.topology);
  const order = processes.map((p) => p.name);
  const children = new Map<string, Child>();
  const logStreams = new Map<string, WriteStream>();
  const timers = new Set<NodeJS.Timeout>();
  let shuttingDown = false;

  const shutdown = async (code: number) => {
    if (shuttingDown) return;
    shuttingDown = true;
    for (const t of timers) clearTimeout(t);
    out("Stopping Cloister…");
    // Dependents first (execution … storage), so the frontend can still ship its last audit
    // entries to management and nothing waits on a peer that is already gone.
    const byOrder = [...children.values()].sort((a, b) => order.indexOf(b.name) - order.indexOf(a.name));
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

  /** Supervises one service: starts it, restarts it after a crash, gives up if it cannot start. */
  const supervise = ({ name, services }: ProcessSpec) =>
    new Promise<Child>((resolveFirst, rejectFirst) => {
      const what = services.length === 1 ? `the ${name} service` : `the ${name} process`;
      let failedStarts = 0;
      let everReady = false;
      const crashes: number[] = [];
      const log = createWriteStream(join(logs, `${name}.log`), { flags: "a" });
      logStreams.set(name, log);

      const launch = () => {
        if (shuttingDown) return;
        const proc = spawn(process.execPath, [main, "service", name, ...baseArgs], {
          stdio: ["ignore", "pipe", "pipe"],
          env: {
            ...process.env,
            CLOISTER_HOME: config.data_dir,
            [INTERNAL_HOST_ENV]: internalHost,
            // The service exits when this supervisor is gone (no orphans holding ports).
            CLOISTER_SUPERVISOR_PID: String(process.pid),
            ...Object.assign({}, ...services.map((s) => opsEnv(s, served, internalHost))),
          },
        });
        proc.stderr!.pipe(log, { end: false });
        const child: Child = { name, process: proc, endpoints: [] };
        children.set(name, child);
        let ready = false;
        createInterface({ input: proc.stdout! }).on("line", (line) => {
          try {
            const msg = JSON.parse(line) as Record<string, unknown>;
            if (msg[READY_MARKER] === name) {
              child.endpoints = msg.endpoints as Child["endpoints"];
              ready = true;
              failedStarts = 0;
              if (everReady) out(`  ${what} is serving again`);
              everReady = true;
              resolveFirst(child);
            }
          } catch {
            log.write(`${line}\n`);
          }
        });
        // The service's last words (its one-line `cloister: …` error, e.g. a port in use) are in
        // its stderr; asynchronous log lines may still arrive after it, so keep the error line.
        let lastLine = "";
        proc.stderr!.on("data", (chunk: Buffer) => {
          for (const line of chunk.toString("utf8").split("\n"))
            if (line.startsWith("cloister:")) lastLine = line.trim();
        });
        proc.once("exit", (code, signal) => {
          if (shuttingDown) return;
          const said = lastLine.startsWith("cloister:") ? lastLine.slice("cloister:".length).trim() : "";
          const hint = portClashHint(services, said, served, options.configFile);
          const why = `${what} exited (${signal ?? `code ${code}`})${said ? `: ${said}` : ""}`;
          if (!ready) failedStarts++;
          // A port in use at the very first start needs the user: no point in retrying.
          if (failedStarts >= MAX_FAILED_STARTS || (hint && !everReady)) {
            out(`error: ${why}; see ${join(logs, `${name}.log`)}`);
            if (hint) out(hint);
            out(`error: ${what} cannot start; stopping Cloister`);
            rejectFirst(new Error(why));
            void shutdown(1);
            return;
          }
          const now = Date.now();
          crashes.push(now);
          while (crashes.length && now - crashes[0]! > CRASH_WINDOW_MS) crashes.shift();
          const delay = Math.min(MAX_BACKOFF_MS, 250 * 2 ** (crashes.length - 1));
          out(`warning: ${why}; restarting it in ${(delay / 1000).toFixed(1)} s`);
          const t = setTimeout(() => {
            timers.delete(t);
            launch();
          }, delay);
          timers.add(t);
        });
      };
      launch();
    });

  let started: Child[];
  try {
    started = await Promise.all(processes.map(supervise));
  } catch {
    return; // shutdown is under way
  }
  for (const c of started) for (const e of c.endpoints) out(`  ${e.name.padEnd(26)} ${e.address}`);
  const internal = processes
    .flatMap((p) => p.services)
    .flatMap((n) => listenKeysOf(n).filter((k) => k.internal))
    .map((k) => k.key);
  out(`  internal endpoints (${internal.join(", ")}) bind to ${internalHost} unless [listen] sets them`);
  out("Log in as admin / teaclave (change the password). Press Ctrl-C to stop.");
  out("Cloister is ready.");
  options.onReady?.(started);
}

/**
 * Local operations endpoints (metrics, /livez, /readyz, /version) for services whose
 * `[ops.listen]` is unset: the service's internal (or API) port + 2000 on the internal host, e.g.
 * frontend 9777, scheduler 19780, execution 19781. `CLOISTER_OPS=off` serves none.
 */
export const LOCAL_OPS_PORTS: Record<ServiceName, number> = {
  authentication: 9776,
  frontend: 9777,
  management: 19777,
  storage: 19778,
  access_control: 19779,
  scheduler: 19780,
  execution: 19781,
};

function opsEnv(name: ServiceName, served: CloisterConfig, host: string): Record<string, string> {
  if (process.env.CLOISTER_OPS === "off" || served.ops.listen[name]) return {};
  const h = host.includes(":") && !host.startsWith("[") ? `[${host}]` : host;
  return { [`CLOISTER_OPS_LISTEN_${name.toUpperCase()}`]: `${h}:${LOCAL_OPS_PORTS[name]}` };
}
