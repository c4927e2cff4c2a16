import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { ConfigError } from "@cloister/core";
import { CloisterClient, type PlatformTrust, trustFromFiles } from "@cloister/sdk";
import { type Command, Option } from "commander";

/** What every client command shares: the global flags and the output channel. */
export interface Cli {
  json(): boolean;
  dataDir(): string;
  /** Human text by default, the JSON value with `--json`. */
  print(human: string, json: unknown): void;
}

export interface ClientFlags {
  dataDir: string;
  asRootCa?: string;
  enclaveInfo?: string;
  authentication: string;
  frontend: string;
  session?: string;
}

export interface Session {
  id: string;
  token: string;
  /** Endpoints used at login, reused when a later command does not name them. */
  authentication?: string;
  frontend?: string;
}

/** The endpoint and trust flags of every command that talks to the platform. */
export function clientOptions(c: Command): Command {
  return c
    .addOption(
      new Option("--authentication <host:port>", "authentication API")
        .env("CLOISTER_AUTHENTICATION")
        .default("localhost:7776"),
    )
    .addOption(
      new Option("--frontend <host:port>", "frontend API").env("CLOISTER_FRONTEND").default("localhost:7777"),
    )
    .option("--as-root-ca <file>", "attestation root CA to trust (default <data-dir>/as_root_ca.pem)")
    .option(
      "--enclave-info <file>",
      "enclave_info.toml with the measurements to accept (default <data-dir>/enclave_info.toml)",
    )
    .option(
      "--session <file>",
      "login session file (env CLOISTER_SESSION, default ~/.cloister-session.json)",
    );
}

export const sessionPath = (f: Pick<ClientFlags, "session">) =>
  f.session ?? process.env.CLOISTER_SESSION ?? join(homedir(), ".cloister-session.json");

export function loadTrust(f: ClientFlags): PlatformTrust {
  const ca = f.asRootCa ?? join(f.dataDir, "as_root_ca.pem");
  const info = f.enclaveInfo ?? join(f.dataDir, "enclave_info.toml");
  for (const [path, flag] of [
    [ca, "--as-root-ca"],
    [info, "--enclave-info"],
  ] as const) {
    if (!existsSync(path))
      throw new ConfigError(
        `cannot read ${path}: give ${flag} or --data-dir (the platform's data directory)`,
      );
  }
  try {
    return trustFromFiles(ca, info);
  } catch (e) {
    throw new ConfigError(`cannot use the trust files ${ca} and ${info}: ${(e as Error).message}`, {
      cause: e,
    });
  }
}

export function readSession(f: Pick<ClientFlags, "session">): Session | undefined {
  const path = sessionPath(f);
  if (!existsSync(path)) return undefined;
  try {
    const s = JSON.parse(readFileSync(path, "utf8")) as Session;
    if (typeof s.id === "string" && typeof s.token === "string") return s;
  } catch {
    // fall through: a damaged file is reported like a missing one, with the fix
  }
  throw new ConfigError(`the session file ${path} is damaged: run \`cloister user login <id>\` again`);
}

/** A client for the platform the flags point at, with the saved session if there is one. */
export function openClient(f: ClientFlags, withSession = true): CloisterClient {
  const trust = loadTrust(f);
  let session: Session | undefined;
  if (withSession) {
    session = readSession(f);
    if (!session) throw new ConfigError("not logged in: run `cloister user login <id>` first");
  }
  return new CloisterClient({
    authentication: f.authentication,
    frontend: f.frontend,
    trust,
    ...(session ? { session: { id: session.id, token: session.token } } : {}),
  });
}

export function saveSession(f: Pick<ClientFlags, "session">, session: Session): string {
  const path = sessionPath(f);
  // The token is a bearer credential: readable by its owner only.
  writeFileSync(path, JSON.stringify(session), { mode: 0o600 });
  return path;
}

export function deleteSession(f: Pick<ClientFlags, "session">): { path: string; existed: boolean } {
  const path = sessionPath(f);
  const existed = existsSync(path);
  rmSync(path, { force: true });
  return { path, existed };
}

/**
 * The flags of a client command: endpoints not given on the command line (nor in the
 * environment) come from the session saved at login, so one `--frontend` at login suffices.
 */
export function clientFlags(cli: Cli, o: Record<string, unknown>, cmd: Command): ClientFlags {
  const f = { ...(o as object), dataDir: cli.dataDir() } as ClientFlags;
  const isDefault = (name: string) => cmd.getOptionValueSource(name) === "default";
  if (isDefault("authentication") || isDefault("frontend")) {
    let s: Session | undefined;
    try {
      s = readSession(f);
    } catch {
      s = undefined;
    }
    if (s?.authentication && isDefault("authentication")) f.authentication = s.authentication;
    if (s?.frontend && isDefault("frontend")) f.frontend = s.frontend;
  }
  return f;
}

type Action = (...args: unknown[]) => Promise<void>;

/**
 * Wraps a command's action: opens an attested client (with the saved session unless
 * `session: false`), runs `fn(client, positional args…, options, flags)` and always closes it.
 */
export function withClient(
  cli: Cli,
  fn: (
    client: CloisterClient,
    args: string[],
    o: Record<string, unknown>,
    flags: ClientFlags,
  ) => Promise<void>,
  options: { session?: boolean } = {},
): Action {
  return async (...all: unknown[]) => {
    const cmd = all[all.length - 1] as Command;
    const o = all[all.length - 2] as Record<string, unknown>;
    const args = all.slice(0, -2) as string[];
    const flags = clientFlags(cli, o, cmd);
    const client = openClient(flags, options.session ?? true);
    try {
      await fn(client, args, o, flags);
    } finally {
      client.close();
    }
  };
}
