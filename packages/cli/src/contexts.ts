// Named contexts, one per platform (kubectl-style): its endpoints, the trust files to verify it
// with (absolute paths) and the session of whoever logged in. `user login` writes one and makes
// it current; every later command reads the current one (or `--context NAME`), from any
// directory. The file holds bearer tokens: it is created mode 0600 in a 0700 directory.
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { ConfigError } from "@cloister/core";

export interface Context {
  authentication: string;
  frontend: string;
  as_root_ca: string;
  enclave_info: string;
  session?: { id: string; token: string };
}

export interface ContextFile {
  current?: string;
  contexts: Record<string, Context>;
}

/** `$CLOISTER_CONFIG_DIR/contexts.json`, else `$XDG_CONFIG_HOME/cloister/…`, else `~/.config/cloister/…`. */
export function contextsPath(env: NodeJS.ProcessEnv = process.env): string {
  const dir = env.CLOISTER_CONFIG_DIR ?? join(env.XDG_CONFIG_HOME || join(homedir(), ".config"), "cloister");
  return join(dir, "contexts.json");
}

export function readContexts(path = contextsPath()): ContextFile {
  if (!existsSync(path)) return { contexts: {} };
  try {
    const f = JSON.parse(readFileSync(path, "utf8")) as ContextFile;
    if (f && typeof f === "object" && f.contexts && typeof f.contexts === "object") return f;
  } catch {
    // reported below with the fix
  }
  throw new ConfigError(
    `the context file ${path} is damaged: delete it and run \`cloister user login <id>\` again`,
  );
}

export function writeContexts(file: ContextFile, path = contextsPath()): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  // Written beside and renamed, so a crash never leaves half a file of tokens.
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(file, null, 2)}\n`, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, path);
}

/** The context a command uses: the named one, else the current one (undefined if none). */
export function selectContext(
  file: ContextFile,
  name: string | undefined,
): { name: string; context: Context } | undefined {
  const chosen = name ?? file.current;
  if (chosen === undefined) return undefined;
  const context = file.contexts[chosen];
  if (!context) {
    if (name === undefined) return undefined;
    const known = Object.keys(file.contexts);
    throw new ConfigError(
      `no context named ${name}${known.length ? ` (known: ${known.join(", ")})` : ""}; \`cloister user login <id> --context ${name}\` creates it`,
    );
  }
  return { name: chosen, context };
}

/** A context name for a platform nobody named: its frontend address. */
export const defaultContextName = (frontend: string): string => frontend;
