import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { ConfigError } from "@cloister/core";
import { CloisterClient, type PlatformTrust, trustFromFiles } from "@cloister/sdk";
import { type Command, Option } from "commander";
import { contextsPath, defaultContextName, readContexts, selectContext, writeContexts } from "../contexts.js";

/** What every client command shares: the global flags and the output channels. */
export interface Cli {
  json(): boolean;
  /** The platform data directory, absolute. */
  dataDir(): string;
  /** Whether --data-dir (or CLOISTER_HOME) was given, rather than found or defaulted. */
  dataDirExplicit(): boolean;
  /** `--context` / CLOISTER_CONTEXT. */
  contextName(): string | undefined;
  /** The result: human text by default, the JSON value with `--json`; always stdout. */
  print(human: string, json: unknown): void;
  /** Anything that is not the result (progress, hints, saved-file notes): stderr. */
  note(text: string): void;
}

export interface ClientFlags {
  dataDir: string;
  asRootCa?: string;
  enclaveInfo?: string;
  authentication: string;
  frontend: string;
  session?: string;
  context?: string;
}

export interface Session {
  id: string;
  token: string;
  /** Endpoints and trust files used at login, reused when a later command does not name them. */
  authentication?: string;
  frontend?: string;
  as_root_ca?: string;
  enclave_info?: string;
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
      "keep the login in this file instead of the current context (env CLOISTER_SESSION)",
    );
}

/** The explicit session file, if one was named (flag or CLOISTER_SESSION); else contexts are used. */
export const sessionFile = (f: Pick<ClientFlags, "session">): string | undefined =>
  f.session ?? process.env.CLOISTER_SESSION;

export function loadTrust(f: ClientFlags): PlatformTrust {
  const ca = resolve(f.asRootCa ?? join(f.dataDir, "as_root_ca.pem"));
  const info = resolve(f.enclaveInfo ?? join(f.dataDir, "enclave_info.toml"));
  for (const [path, flag] of [
    [ca, "--as-root-ca"],
    [info, "--enclave-info"],
  ] as const) {
    if (!existsSync(path))
      throw new ConfigError(
        `cannot read ${path}: give ${flag} or --data-dir (the platform's data directory), or log in with them once so the context remembers them`,
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

function readSessionFile(path: string): Session | undefined {
  if (!existsSync(path)) return undefined;
  try {
    const s = JSON.parse(readFileSync(path, "utf8")) as Session;
    if (typeof s.id === "string" && typeof s.token === "string") return s;
  } catch {
    // fall through: a damaged file is reported like a missing one, with the fix
  }
  throw new ConfigError(`the session file ${path} is damaged: run \`cloister user login <id>\` again`);
}

/** The saved login the flags point at: the session file if one is named, else the context. */
export function readSession(f: Pick<ClientFlags, "session" | "context">): Session | undefined {
  const file = sessionFile(f);
  if (file) return readSessionFile(file);
  const selected = selectContext(readContexts(), f.context);
  if (!selected) return undefined;
  const c = selected.context;
  return {
    ...(c.session ?? { id: "", token: "" }),
    authentication: c.authentication,
    frontend: c.frontend,
    as_root_ca: c.as_root_ca,
    enclave_info: c.enclave_info,
  };
}

/** A client for the platform the flags point at, with the saved session if there is one. */
export function openClient(f: ClientFlags, withSession = true): CloisterClient {
  const trust = loadTrust(f);
  let session: Session | undefined;
  if (withSession) {
    session = readSession(f);
    if (!session?.token) throw new ConfigError("not logged in: run `cloister user login <id>` first");
  }
  return new CloisterClient({
    authentication: f.authentication,
    frontend: f.frontend,
    trust,
    ...(session ? { session: { id: session.id, token: session.token } } : {}),
  });
}

/** Saves a login: in the session file if one is named, else in a context made current. */
export function saveSession(
  f: ClientFlags,
  session: { id: string; token: string },
): { where: string; context?: string } {
  const trust = {
    as_root_ca: resolve(f.asRootCa ?? join(f.dataDir, "as_root_ca.pem")),
    enclave_info: resolve(f.enclaveInfo ?? join(f.dataDir, "enclave_info.toml")),
  };
  const file = sessionFile(f);
  if (file) {
    // The token is a bearer credential: readable by its owner only.
    writeFileSync(
      file,
      JSON.stringify({ ...session, authentication: f.authentication, frontend: f.frontend, ...trust }),
      { mode: 0o600 },
    );
    return { where: file };
  }
  const contexts = readContexts();
  const current = f.context === undefined ? selectContext(contexts, undefined) : undefined;
  // Logging in again to the platform of the current context keeps its name.
  const name =
    f.context ??
    (current && current.context.frontend === f.frontend ? current.name : defaultContextName(f.frontend));
  contexts.contexts[name] = { authentication: f.authentication, frontend: f.frontend, ...trust, session };
  contexts.current = name;
  writeContexts(contexts);
  return { where: contextsPath(), context: name };
}

/** Forgets a login: deletes the session file, or the session of the context. */
export function deleteSession(f: Pick<ClientFlags, "session" | "context">): {
  where: string;
  existed: boolean;
} {
  const file = sessionFile(f);
  if (file) {
    const existed = existsSync(file);
    rmSync(file, { force: true });
    return { where: file, existed };
  }
  const contexts = readContexts();
  const selected = selectContext(contexts, f.context);
  if (!selected?.context.session) return { where: contextsPath(), existed: false };
  delete selected.context.session;
  writeContexts(contexts);
  return { where: `context ${selected.name}`, existed: true };
}

/**
 * The flags of a client command: endpoints not given on the command line (nor in the
 * environment) come from the saved login, and so do the trust files unless --data-dir or a
 * trust flag is given, so one login suffices from any directory.
 */
export function clientFlags(cli: Cli, o: Record<string, unknown>, cmd: Command): ClientFlags {
  const f = { ...(o as object), dataDir: cli.dataDir() } as ClientFlags;
  const context = cli.contextName();
  if (context !== undefined) f.context = context;
  const isDefault = (name: string) => cmd.getOptionValueSource(name) === "default";
  let s: Session | undefined;
  try {
    s = readSession(f);
  } catch {
    s = undefined;
  }
  if (s?.authentication && isDefault("authentication")) f.authentication = s.authentication;
  if (s?.frontend && isDefault("frontend")) f.frontend = s.frontend;
  if (s && !f.asRootCa && !f.enclaveInfo && !cli.dataDirExplicit()) {
    if (s.as_root_ca && existsSync(s.as_root_ca)) f.asRootCa = s.as_root_ca;
    if (s.enclave_info && existsSync(s.enclave_info)) f.enclaveInfo = s.enclave_info;
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
