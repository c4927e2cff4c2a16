import { readFileSync } from "node:fs";
import { isAbsolute, join, resolve } from "node:path";
import { ConfigError } from "@cloister/core";
import { parse as parseToml } from "smol-toml";
import { type CloisterConfig, configSchema } from "./schema.js";

export interface LoadOptions {
  /** Path of a TOML file; absent means "defaults only". */
  file?: string;
  /** Overrides applied after the file and environment (e.g. from command-line flags). */
  overrides?: { data_dir?: string };
  env?: NodeJS.ProcessEnv;
}

/**
 * Build the configuration: defaults < TOML file < environment < explicit overrides. Anything
 * invalid is a ConfigError naming the offending key, raised before a service starts listening.
 */
export function loadConfig(options: LoadOptions = {}): CloisterConfig {
  const env = options.env ?? process.env;
  let raw: Record<string, unknown> = {};
  if (options.file) {
    try {
      raw = parseToml(readFileSync(options.file, "utf8")) as Record<string, unknown>;
    } catch (e) {
      throw new ConfigError(`cannot read configuration ${options.file}: ${(e as Error).message}`);
    }
  }
  if (env.CLOISTER_HOME) raw.data_dir = env.CLOISTER_HOME;
  if (env.CLOISTER_LOG_LEVEL) raw.log_level = env.CLOISTER_LOG_LEVEL;
  if (env.CLOISTER_STORAGE_BACKEND || env.CLOISTER_ETCD_ENDPOINTS) {
    const storage = { ...((raw.storage as Record<string, unknown>) ?? {}) };
    if (env.CLOISTER_STORAGE_BACKEND) storage.backend = env.CLOISTER_STORAGE_BACKEND;
    if (env.CLOISTER_ETCD_ENDPOINTS) storage.etcd_endpoints = env.CLOISTER_ETCD_ENDPOINTS.split(",");
    raw.storage = storage;
  }
  // CLOISTER_OPS_LISTEN_<SERVICE>=host:port (e.g. CLOISTER_OPS_LISTEN_FRONTEND): how a launcher
  // such as `cloister up` gives each child its operations endpoint without a config file edit.
  const opsEnv = Object.entries(env).filter(([k, v]) => k.startsWith("CLOISTER_OPS_LISTEN_") && v);
  if (opsEnv.length) {
    const ops = { ...((raw.ops as Record<string, unknown>) ?? {}) };
    const listen = { ...((ops.listen as Record<string, unknown>) ?? {}) };
    for (const [k, v] of opsEnv) listen[k.slice("CLOISTER_OPS_LISTEN_".length).toLowerCase()] = v;
    ops.listen = listen;
    raw.ops = ops;
  }
  if (options.overrides?.data_dir) raw.data_dir = options.overrides.data_dir;

  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`);
    throw new ConfigError(`invalid configuration: ${issues.join("; ")}`);
  }
  const config = parsed.data;
  config.data_dir = resolve(config.data_dir);
  return config;
}

/** Resolve a path from the configuration relative to the data directory. */
export function dataPath(config: CloisterConfig, path: string): string {
  return isAbsolute(path) ? path : join(config.data_dir, path);
}

/** `https://host:port` → `host:port` for a grpc-js target. */
export function targetOf(url: string): string {
  const u = new URL(url);
  return `${u.hostname}:${u.port}`;
}
