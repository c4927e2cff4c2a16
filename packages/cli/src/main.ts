#!/usr/bin/env node
import { readFileSync, writeFileSync } from "node:fs";
import { loadConfig } from "@cloister/config";
import { signEnclaveInfo, verifyEnclaveInfoSignatures } from "@cloister/tee";
import { Command, CommanderError } from "commander";
import { attest } from "./commands/attest.js";
import { auditCommands } from "./commands/audit.js";
import type { Cli } from "./commands/client.js";
import { completionCommand } from "./commands/completion.js";
import { consoleCommand } from "./commands/console.js";
import { contextCommands } from "./commands/context.js";
import { dataCommands } from "./commands/data.js";
import { doctorCommand } from "./commands/doctor.js";
import { evidenceCommands } from "./commands/evidence.js";
import { fileCommands } from "./commands/files.js";
import { functionCommands } from "./commands/functions.js";
import { libosCommands } from "./commands/libos.js";
import { statusCommand } from "./commands/status.js";
import { taskCommands } from "./commands/tasks.js";
import { userCommands } from "./commands/users.js";
import { resolveDataDir } from "./data-dir.js";
import { errorView, exitCodeFor, formatError } from "./format.js";

const { version } = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
  version: string;
};

const program = new Command();
program
  .name("cloister")
  .description(
    "Cloister: confidential-computing functions as a service (Teaclave-compatible).\n" +
      "Exit status: 0 success, 1 failed operation, 2 malformed command line.",
  )
  .version(version, "-V, --version", "print the version")
  .option(
    "--data-dir <dir>",
    "platform data directory (env CLOISTER_HOME; default: the nearest ./.cloister up from here)",
  )
  .option("--config <file>", "configuration file (TOML)")
  .option("--context <name>", "the platform context to use (env CLOISTER_CONTEXT; default: the current one)")
  .option("--json", "machine-readable output")
  // Commander exits by itself on usage errors (status 1); throwing instead lets every usage
  // error leave with status 2, whichever part of the CLI found it.
  .exitOverride()
  .configureOutput({ outputError: (s, write) => write(s.replace(/^error: /, "cloister: ")) });

const globals = () => program.opts<{ dataDir?: string; config?: string; context?: string; json?: boolean }>();
const dataDir = () => resolveDataDir(globals().dataDir ?? process.env.CLOISTER_HOME);
const config = () => loadConfig({ file: globals().config, overrides: { data_dir: dataDir().path } });
const print = (human: string, json: unknown) =>
  console.log(globals().json ? JSON.stringify(json, null, 2) : human);
const note = (text: string) => process.stderr.write(`${text}\n`);

program
  .command("up")
  .description("start the whole platform on this machine (all services, embedded defaults)")
  .option(
    "--internal-host <host>",
    "host the internal endpoints bind to unless [listen] in the configuration names one (API ports: [listen] authentication_api, frontend)",
    "127.0.0.1",
  )
  .action(async (opts: { internalHost: string }) => {
    // Loaded on demand: client commands should not pay for importing every service.
    const { up } = await import("./commands/up.js");
    // Local-work defaults (file exchange under the data directory, loopback egress), inherited
    // by every service `up` starts; `cloister service` alone keeps the deployment defaults.
    process.env.CLOISTER_PROFILE ??= "local";
    const { parseInternalHost } = await import("./commands/up-ports.js");
    await up(config(), { configFile: globals().config, internalHost: parseInternalHost(opts.internalHost) });
  });

program
  .command("service <name>")
  .description(
    'run one process: control-plane (storage, access control, authentication, management, scheduler and frontend together; topology = "combined", the default) or execution; under topology = "split" one service: authentication, frontend, management, storage, access_control, scheduler, execution',
  )
  .action(async (name: string) => {
    const { runService } = await import("./commands/service.js");
    await runService(name.replace("-", "_"), config());
  });

const platform = program.command("platform").description("platform set-up");
platform
  .command("init")
  .description("create the attestation root, measure every service and write a signed enclave_info.toml")
  .action(async () => {
    const { preparePlatform } = await import("@cloister/host");
    const p = await preparePlatform(config());
    print(`as_root_ca: ${p.asRootCa}\nenclave_info: ${p.enclaveInfo}\nsignature: ${p.auditorSignature}`, p);
  });

program
  .command("attest <address>")
  .description(
    "verify an endpoint's attestation and print its measurement, signer and whether it is simulated",
  )
  .option("--as-root-ca <file>", "attestation-service root CA (default: <data-dir>/as_root_ca.pem)")
  .option("--enclave-info <file>", "accepted measurements (default: <data-dir>/enclave_info.toml)")
  .option("--enclave <name>", "expected enclave, e.g. teaclave_frontend_service")
  .action(async (address: string, o: { asRootCa?: string; enclaveInfo?: string; enclave?: string }) => {
    const dir = dataDir().path;
    console.log(
      await attest(address, {
        asRootCa: o.asRootCa ?? `${dir}/as_root_ca.pem`,
        enclaveInfo: o.enclaveInfo ?? `${dir}/enclave_info.toml`,
        enclave: o.enclave,
        json: globals().json ?? false,
      }),
    );
  });

const enclaveInfo = program.command("enclave-info").description("auditor signatures over enclave_info.toml");
enclaveInfo
  .command("sign <file>")
  .requiredOption("--key <pem>", "auditor private key")
  .requiredOption("--out <file>", "signature file to write")
  .action((file: string, o: { key: string; out: string }) => {
    writeFileSync(o.out, signEnclaveInfo(readFileSync(file), readFileSync(o.key, "utf8")));
    print(`signed ${file} → ${o.out}`, { signature: o.out });
  });
enclaveInfo
  .command("verify")
  .requiredOption("--enclave-info <file>")
  .requiredOption("--public-keys <pem...>")
  .requiredOption("--signatures <file...>")
  .action((o: { enclaveInfo: string; publicKeys: string[]; signatures: string[] }) => {
    verifyEnclaveInfoSignatures(
      readFileSync(o.enclaveInfo),
      o.signatures.map((s) => readFileSync(s)),
      o.publicKeys.map((k) => readFileSync(k, "utf8")),
    );
    print("Verify successfully.", { verified: true });
  });

// ----- client commands -----
const cli: Cli = {
  json: () => globals().json ?? false,
  dataDir: () => dataDir().path,
  dataDirExplicit: () => dataDir().explicit,
  contextName: () => globals().context ?? process.env.CLOISTER_CONTEXT,
  print,
  note,
};
userCommands(program, cli);
functionCommands(program, cli);
dataCommands(program, cli);
taskCommands(program, cli);
auditCommands(program, cli);
fileCommands(program, cli);
libosCommands(program, cli);
evidenceCommands(program, cli);
consoleCommand(program, cli);
contextCommands(program, cli);
doctorCommand(program, cli, config);
statusCommand(program, cli, config);
completionCommand(program, cli);

program.parseAsync().catch((e: unknown) => {
  const code = exitCodeFor(e);
  // Commander has already printed its own message (or the help, or the version).
  if (e instanceof CommanderError) {
    if (code !== 0 && globals().json) console.log(JSON.stringify({ error: errorView(e) }, null, 2));
    process.exit(code);
  }
  const view = errorView(e);
  console.error(formatError(view));
  if (globals().json) console.log(JSON.stringify({ error: view }, null, 2));
  process.exit(code);
});
