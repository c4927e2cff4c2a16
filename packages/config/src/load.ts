import { readFileSync } from "node:fs";
import { isAbsolute, join, relative, resolve, sep } from "node:path";
import { ConfigError } from "@cloister/core";
import { parse as parseToml } from "smol-toml";
import { type CloisterConfig, configSchema } from "./schema.js";

export interface LoadOptions {
  /** Path of a TOML file; absent means "defaults only". */
  file?: string;
  /** Overrides applied after the file and environment (e.g. from command-line flags). */
  overrides?: { data_dir?: string };
  env?: NodeJS.ProcessEnv;
  /**
   * `local` (what `cloister up` runs, also `CLOISTER_PROFILE=local`) changes some defaults for
   * work on one machine; `service` (the default) keeps the safe ones. See LOCAL_DEFAULTS.
   */
  profile?: Profile;
}

export const PROFILES = ["service", "local"] as const;
export type Profile = (typeof PROFILES)[number];

/**
 * Defaults of the `local` profile, applied only where the file and environment say nothing:
 * `file:` URLs in `<data_dir>/exchange/<user>/`, and the file agent may reach servers on this
 * machine (loopback, any unprivileged port) — a deployment's nodes reach neither by default.
 */
export const LOCAL_DEFAULTS = {
  file_exchange_dir: "exchange",
  egress_allow_addresses: ["127.0.0.0/8", "::1"],
  egress_ports: [80, 443, "1024-65535"],
} as const;

function applyProfile(raw: Record<string, unknown>, profile: Profile): void {
  if (profile !== "local") return;
  const execution = { ...((raw.execution as Record<string, unknown>) ?? {}) };
  const egress = { ...((execution.egress as Record<string, unknown>) ?? {}) };
  execution.file_exchange_dir ??= LOCAL_DEFAULTS.file_exchange_dir;
  egress.allow_addresses ??= [...LOCAL_DEFAULTS.egress_allow_addresses];
  egress.ports ??= [...LOCAL_DEFAULTS.egress_ports];
  execution.egress = egress;
  raw.execution = execution;
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
  if (env.CLOISTER_TOPOLOGY) raw.topology = env.CLOISTER_TOPOLOGY;
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
  const profile = options.profile ?? env.CLOISTER_PROFILE ?? "service";
  if (!PROFILES.includes(profile as Profile))
    throw new ConfigError(`invalid configuration: CLOISTER_PROFILE: expected one of ${PROFILES.join(", ")}`);
  applyProfile(raw, profile as Profile);

  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`);
    throw new ConfigError(`invalid configuration: ${issues.join("; ")}`);
  }
  const config = parsed.data;
  config.data_dir = resolve(config.data_dir);
  if (config.execution.file_exchange_dir !== undefined)
    config.execution.file_exchange_dir = resolve(config.data_dir, config.execution.file_exchange_dir);
  const exchange = config.execution.file_exchange_dir;
  if (exchange !== undefined) {
    // Users name files below the exchange: the platform's keys must not be among them.
    const rel = relative(exchange, config.data_dir);
    if (rel === "" || (rel !== ".." && !rel.startsWith(`..${sep}`) && !isAbsolute(rel)))
      throw new ConfigError("invalid configuration: execution.file_exchange_dir: must not contain data_dir");
  }
  // `cloister up` keeps internal endpoints on loopback; an address the file names still wins.
  const internalHost = env.CLOISTER_INTERNAL_HOST;
  if (internalHost) {
    const given = (raw.listen as Record<string, unknown> | undefined) ?? {};
    const host =
      internalHost.includes(":") && !internalHost.startsWith("[") ? `[${internalHost}]` : internalHost;
    for (const key of INTERNAL_LISTEN_KEYS) {
      if (given[key] !== undefined) continue;
      const address = config.listen[key];
      config.listen[key] = `${host}:${address.slice(address.lastIndexOf(":") + 1)}`;
    }
  }
  return config;
}

/** The `[listen]` keys of endpoints only other services call (the API ports are the others). */
export const INTERNAL_LISTEN_KEYS = [
  "authentication_internal",
  "management",
  "storage",
  "access_control",
  "scheduler",
] as const;

/** Resolve a path from the configuration relative to the data directory. */
export function dataPath(config: CloisterConfig, path: string): string {
  return isAbsolute(path) ? path : join(config.data_dir, path);
}

/** `https://host:port` → `host:port` for a grpc-js target. */
export function targetOf(url: string): string {
  const u = new URL(url);
  return `${u.hostname}:${u.port}`;
}
