import { type CloisterConfig, INTERNAL_LISTEN_KEYS, type ServiceName } from "@cloister/config";
import { UsageError } from "../args.js";

/** Read by @cloister/config: the host internal endpoints bind to when `[listen]` does not say. */
export const INTERNAL_HOST_ENV = "CLOISTER_INTERNAL_HOST";

type ListenKey = keyof CloisterConfig["listen"];

const LISTEN_KEYS: Record<ServiceName, ListenKey[]> = {
  authentication: ["authentication_api", "authentication_internal"],
  frontend: ["frontend"],
  management: ["management"],
  storage: ["storage"],
  access_control: ["access_control"],
  scheduler: ["scheduler"],
  execution: [],
};

/** The `[listen]` keys a service binds, and whether each is internal (reached via `[advertised]`). */
export function listenKeysOf(service: ServiceName): Array<{ key: ListenKey; internal: boolean }> {
  return LISTEN_KEYS[service].map((key) => ({
    key,
    internal: (INTERNAL_LISTEN_KEYS as readonly string[]).includes(key),
  }));
}

/** `[advertised]` key peers use to reach an internal listen key. */
const advertisedKey = (key: ListenKey) => (key === "authentication_internal" ? "authentication" : key);

/**
 * When a service died because its port is taken, say which configuration key moves it (and, for
 * internal endpoints, the advertised address its peers use); undefined for any other failure.
 */
export function portClashHint(
  services: readonly ServiceName[],
  said: string,
  config: CloisterConfig,
  configFile: string | undefined,
): string | undefined {
  if (!/EADDRINUSE|address already in use/i.test(said)) return undefined;
  const port = /:(\d{1,5})\b(?!.*:\d)/.exec(said)?.[1];
  const keys = services.flatMap(listenKeysOf);
  const service = services.join(", ");
  const hit =
    keys.find(({ key }) => port !== undefined && config.listen[key].endsWith(`:${port}`)) ??
    (keys.length === 1 ? keys[0] : undefined);
  const where = configFile
    ? `in ${configFile}`
    : "in a configuration file (TOML) and start with cloister up --config <file>";
  if (!hit) return `hint: a port of the ${service} service is taken; move it with its [listen] key ${where}`;
  const current = config.listen[hit.key];
  const host = current.slice(0, current.lastIndexOf(":"));
  const lines = [
    `hint: ${current} (listen.${hit.key}) is taken by another process (EADDRINUSE). Move it ${where}:`,
    "  [listen]",
    `  ${hit.key} = "${host}:<free port>"`,
  ];
  if (hit.internal)
    lines.push("  [advertised]", `  ${advertisedKey(hit.key)} = "https://localhost:<the same port>"`);
  return lines.join("\n");
}

/** `--internal-host`: a host name or address, nothing else (it becomes part of listen addresses). */
export function parseInternalHost(value: string): string {
  if (!/^(\[[0-9a-fA-F:]+\]|[0-9a-fA-F:]*:[0-9a-fA-F:]+|[A-Za-z0-9.-]+)$/.test(value))
    throw new UsageError(`--internal-host must be a host name or IP address, got ${JSON.stringify(value)}`);
  return value;
}
