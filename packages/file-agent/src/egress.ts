import { ConfigError } from "@cloister/core";
import { type Cidr, cidrContains, classify, effectiveIp, type IpBytes, parseCidr } from "./address.js";
import { FileAgentError } from "./errors.js";

export type EgressScheme = "http" | "https";

export interface EgressOptions {
  /** Schemes the agent may use over the network. Default: http and https. */
  schemes?: EgressScheme[];
  /** Ports (numbers or `"lo-hi"` ranges). Default: 80 and 443. */
  ports?: Array<number | string>;
  /**
   * Exceptions to the blocked address classes (loopback, private, link-local, …): CIDR ranges or
   * single addresses. A cloud-metadata address is reachable only if listed as a single address.
   */
  allowAddresses?: string[];
  /** Redirects followed per download, each re-checked. Default 5. */
  maxRedirects?: number;
  /**
   * Ports of the platform's own endpoints (listen and operations addresses): never reached on an
   * address that is not public, whatever `allowAddresses` says, so a local profile that opens
   * loopback still keeps tasks away from the platform's own services.
   */
  ownPorts?: number[];
}

/**
 * Where the file agent may connect: the scheme and port of every URL (the first and each redirect)
 * and every address a host name resolves to, checked on the address the connection then uses.
 * By default only public unicast addresses are reachable (see address.ts for the classes).
 */
export class EgressPolicy {
  readonly schemes: ReadonlySet<string>;
  readonly maxRedirects: number;
  private readonly ports: Array<[number, number]>;
  private readonly allowed: Cidr[];
  private readonly ownPorts: ReadonlySet<number>;

  constructor(options: EgressOptions = {}) {
    this.schemes = new Set((options.schemes ?? ["http", "https"]).map((s) => `${s}:`));
    this.ports = (options.ports ?? [80, 443]).map(parsePortRange);
    this.allowed = (options.allowAddresses ?? []).map((a) => {
      const c = parseCidr(a);
      if (!c) throw new ConfigError(`execution.egress.allow_addresses: not an address or CIDR range: ${a}`);
      return c;
    });
    this.maxRedirects = options.maxRedirects ?? 5;
    this.ownPorts = new Set(options.ownPorts ?? []);
  }

  /** The port a URL connects to. */
  static portOf(u: URL): number {
    return u.port === "" ? (u.protocol === "https:" ? 443 : 80) : Number(u.port);
  }

  /** Scheme and port of one URL, before anything is resolved or connected. */
  checkUrl(u: URL): void {
    if (!this.schemes.has(u.protocol))
      throw new FileAgentError("SCHEME_NOT_ALLOWED", `scheme ${u.protocol.slice(0, -1)} not allowed`);
    const port = EgressPolicy.portOf(u);
    if (!this.ports.some(([lo, hi]) => port >= lo && port <= hi))
      throw new FileAgentError("PORT_NOT_ALLOWED", `port ${port} not allowed`);
  }

  /** Throws unless `ip` (on `port`, when known) may be connected to. */
  checkAddress(ip: IpBytes, port?: number): void {
    const cls = classify(ip);
    if (cls === "public") return;
    if (port !== undefined && this.ownPorts.has(port))
      throw new FileAgentError("ADDRESS_NOT_ALLOWED", `address not allowed (a platform endpoint, ${cls})`);
    const a = effectiveIp(ip);
    const listed = this.allowed.some(
      (r) => cidrContains(r, a) && (cls !== "metadata" || r.prefix === r.bytes.length * 8),
    );
    if (!listed) throw new FileAgentError("ADDRESS_NOT_ALLOWED", `address not allowed (${cls})`);
  }
}

function parsePortRange(p: number | string): [number, number] {
  const valid = (n: number) => Number.isInteger(n) && n >= 1 && n <= 65_535;
  if (typeof p === "number" && valid(p)) return [p, p];
  const m = typeof p === "string" ? /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(p) : null;
  if (m) {
    const lo = Number(m[1]);
    const hi = Number(m[2] ?? m[1]);
    if (valid(lo) && valid(hi) && lo <= hi) return [lo, hi];
  }
  throw new ConfigError(`execution.egress.ports: not a port or range: ${String(p)}`);
}
