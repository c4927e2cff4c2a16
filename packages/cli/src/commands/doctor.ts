import { accessSync, constants, existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { CloisterConfig } from "@cloister/config";
import { checkSandbox } from "@cloister/sandbox";
import type { PlatformTrust } from "@cloister/sdk";
import { verifyEnclaveInfoSignatures } from "@cloister/tee";
import type { Command } from "commander";
import { configuredEndpoints, type EndpointSpec, probe } from "../probe.js";
import { type Cli, clientFlags, clientOptions, loadTrust, readSession } from "./client.js";

export interface Check {
  check: string;
  ok: boolean;
  detail: string;
  /** What to do when it failed. */
  fix?: string;
}

const MIN_NODE = 20;

function nodeCheck(): Check {
  const major = Number(process.versions.node.split(".")[0]);
  return major >= MIN_NODE
    ? { check: "node", ok: true, detail: `Node.js ${process.versions.node}` }
    : {
        check: "node",
        ok: false,
        detail: `Node.js ${process.versions.node} is older than ${MIN_NODE}`,
        fix: `install Node.js ${MIN_NODE} or later`,
      };
}

async function sandboxCheck(): Promise<Check> {
  try {
    await checkSandbox();
    return {
      check: "sandbox",
      ok: true,
      detail: "bubblewrap starts sandboxes (wamr, javascript, python executors on)",
    };
  } catch (e) {
    return {
      check: "sandbox",
      ok: false,
      detail: `${(e as Error).message}; the wamr, javascript and python executors stay off`,
      fix: "sudo apt-get install -y bubblewrap util-linux (if installed: allow unprivileged user namespaces, e.g. sysctl kernel.unprivileged_userns_clone=1)",
    };
  }
}

function dataDirCheck(dir: string): Check {
  if (!existsSync(dir))
    return {
      check: "data directory",
      ok: false,
      detail: `${dir} does not exist`,
      fix: "start the platform once (`npm start` or `cloister up`), or give --data-dir",
    };
  try {
    accessSync(dir, constants.W_OK);
  } catch {
    return {
      check: "data directory",
      ok: false,
      detail: `${dir} is not writable`,
      fix: `chown or chmod ${dir}`,
    };
  }
  return { check: "data directory", ok: true, detail: dir };
}

/** The trust files parse and the enclave info carries a valid auditor signature. */
function attestationFilesCheck(
  dir: string,
  load: () => PlatformTrust,
): { check: Check; trust?: PlatformTrust } {
  let trust: PlatformTrust;
  try {
    trust = load();
  } catch (e) {
    return {
      check: {
        check: "attestation files",
        ok: false,
        detail: (e as Error).message,
        fix: "start the platform once (it writes as_root_ca.pem and enclave_info.toml), or give --as-root-ca and --enclave-info",
      },
    };
  }
  const auditors = join(dir, "auditors");
  if (!existsSync(auditors))
    return {
      check: {
        check: "attestation files",
        ok: true,
        detail: "trust files readable (no local auditor directory to check signatures)",
      },
      trust,
    };
  const files = readdirSync(auditors);
  const keys = files
    .filter((f) => f.endsWith(".public.pem"))
    .map((f) => readFileSync(join(auditors, f), "utf8"));
  const sigs = files.filter((f) => f.endsWith(".sign.sha256")).map((f) => readFileSync(join(auditors, f)));
  try {
    verifyEnclaveInfoSignatures(readFileSync(join(dir, "enclave_info.toml")), sigs, keys);
    return {
      check: {
        check: "attestation files",
        ok: true,
        detail: `trust files readable, enclave_info.toml signed by ${sigs.length} auditor(s)`,
      },
      trust,
    };
  } catch (e) {
    return {
      check: {
        check: "attestation files",
        ok: false,
        detail: `enclave_info.toml signatures: ${(e as Error).message}`,
        fix: "restart the platform (it re-measures and re-signs), or have an auditor sign it: cloister enclave-info sign",
      },
      trust,
    };
  }
}

async function endpointChecks(endpoints: EndpointSpec[], trust: PlatformTrust | undefined): Promise<Check[]> {
  return Promise.all(
    endpoints.map(async (e): Promise<Check> => {
      const p = await probe(e, trust);
      const check = `${e.name} ${e.address}`;
      if (p.state === "attested")
        return {
          check,
          ok: true,
          detail: `attested ${p.peer.name}${p.peer.simulated ? " (SIMULATED TEE)" : " (hardware TEE)"}`,
        };
      if (p.state === "unverified")
        return {
          check,
          ok: false,
          detail: "a TLS endpoint answers, but without the trust files its attestation cannot be checked",
          fix: "give --data-dir (or --as-root-ca and --enclave-info) of the platform that runs there",
        };
      if (p.state === "down")
        return {
          check,
          ok: false,
          detail: p.reason,
          fix: "start the platform (`npm start` or `cloister up`); the port is free",
        };
      return {
        check,
        ok: false,
        detail: p.reason,
        fix: e.configKey
          ? `the port is taken by something else (or another platform): stop it, or move this endpoint with ${e.configKey} in a --config file`
          : "check the address, and that --data-dir / --as-root-ca / --enclave-info belong to that platform",
      };
    }),
  );
}

export function formatChecks(checks: Check[]): string {
  const width = Math.max(...checks.map((c) => c.check.length));
  return checks
    .flatMap((c) => [
      `${c.ok ? "ok  " : "FAIL"}  ${c.check.padEnd(width)}  ${c.detail}`,
      ...(c.ok || !c.fix ? [] : [`      ${"".padEnd(width)}  fix: ${c.fix}`]),
    ])
    .join("\n");
}

/** `cloister doctor`: every check that decides whether this machine runs and reaches the platform. */
export function doctorCommand(program: Command, cli: Cli, config: () => CloisterConfig): void {
  clientOptions(program.command("doctor"))
    .description(
      "check Node.js, the sandbox tools, the data directory, the attestation files, and that every endpoint answers and attests; each failure comes with a fix (exit 1 if any fails)",
    )
    .action(async (o: Record<string, unknown>, cmd: Command) => {
      const flags = clientFlags(cli, o, cmd);
      const dir = cli.dataDir();
      const checks: Check[] = [nodeCheck(), await sandboxCheck(), dataDirCheck(dir)];
      const files = attestationFilesCheck(dir, () => loadTrust(flags));
      checks.push(files.check);
      const endpoints = configuredEndpoints(config());
      // The client endpoints (flags or the saved context) too, when they are not these.
      for (const [name, address, enclave] of [
        ["authentication API (client)", flags.authentication, "teaclave_authentication_service"],
        ["frontend API (client)", flags.frontend, "teaclave_frontend_service"],
      ] as const) {
        if (
          !endpoints.some((e) => e.address === address || e.address.endsWith(`:${address.split(":").pop()}`))
        )
          endpoints.push({ name, address, enclave });
      }
      checks.push(...(await endpointChecks(endpoints, files.trust)));
      let session: string;
      try {
        const s = readSession(flags);
        session = s?.token ? `logged in as ${s.id}` : "not logged in (`cloister user login <id>`)";
      } catch (e) {
        session = (e as Error).message;
      }
      checks.push({ check: "login", ok: true, detail: session });
      const failed = checks.filter((c) => !c.ok).length;
      cli.print(
        `${formatChecks(checks)}\n${failed === 0 ? "all checks passed" : `${failed} check(s) failed`}`,
        {
          ok: failed === 0,
          checks,
        },
      );
      if (failed > 0) process.exitCode = 1;
    });
}
