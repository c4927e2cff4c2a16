import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { ConfigError } from "@cloister/core";
import { CloisterClient, trustFromFiles } from "@cloister/sdk";

export interface ClientFlags {
  dataDir: string;
  asRootCa?: string;
  enclaveInfo?: string;
  authentication: string;
  frontend: string;
  session?: string;
}

export const sessionPath = (f: ClientFlags) => f.session ?? process.env.CLOISTER_SESSION ?? join(homedir(), ".cloister-session.json");

/** A client for the platform the flags point at, with the saved session if there is one. */
export function openClient(f: ClientFlags, withSession = true): CloisterClient {
  const trust = trustFromFiles(f.asRootCa ?? join(f.dataDir, "as_root_ca.pem"), f.enclaveInfo ?? join(f.dataDir, "enclave_info.toml"));
  const path = sessionPath(f);
  let session: { id: string; token: string } | undefined;
  if (withSession) {
    if (!existsSync(path)) throw new ConfigError("not logged in: run `cloister user login <id>` first");
    session = JSON.parse(readFileSync(path, "utf8")) as { id: string; token: string };
  }
  return new CloisterClient({ authentication: f.authentication, frontend: f.frontend, trust, ...(session ? { session } : {}) });
}

export function saveSession(f: ClientFlags, session: { id: string; token: string }): string {
  const path = sessionPath(f);
  // The token is a bearer credential: readable by its owner only.
  writeFileSync(path, JSON.stringify(session), { mode: 0o600 });
  return path;
}

/** `name=a,b` pairs from repeated flags. */
export function pairs(values: string[] | undefined): Array<[string, string]> {
  return (values ?? []).map((v) => {
    const i = v.indexOf("=");
    if (i <= 0) throw new ConfigError(`expected name=value, got ${v}`);
    return [v.slice(0, i), v.slice(i + 1)];
  });
}

export function hex(value: string | undefined, what: string): Buffer {
  if (!value) return Buffer.alloc(0);
  if (!/^([0-9a-fA-F]{2})*$/.test(value)) throw new ConfigError(`${what} must be hex`);
  return Buffer.from(value, "hex");
}
