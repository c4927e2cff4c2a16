import { ConfigError } from "@cloister/core";

/** A listen or dial address split into its parts; IPv6 literals are written `[::1]:port`. */
export interface HostPort {
  host: string;
  port: number;
}

/** Parses `host:port` (port 0 allowed: "pick one"). Bad input is a ConfigError naming the value. */
export function parseHostPort(address: string): HostPort {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]\s]+)):(\d{1,5})$/.exec(address);
  const port = m ? Number(m[3]) : Number.NaN;
  if (!m || port > 65535) throw new ConfigError(`invalid address "${address}": expected host:port`);
  return { host: (m[1] ?? m[2]) as string, port };
}

/**
 * Turns a peer address into a grpc-js target. Internal peers are configured by "advertised
 * address" URLs such as `https://localhost:17777` (wire.md §3); a bare `host:port` is accepted too.
 */
export function dialTarget(address: string): string {
  let rest = address;
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(address);
  if (scheme) {
    if (scheme[1]?.toLowerCase() !== "https") {
      throw new ConfigError(`invalid address "${address}": only https:// is supported`);
    }
    rest = address.slice(scheme[0].length).replace(/\/$/, "");
  }
  const { host, port } = parseHostPort(rest);
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

/** The address part of a grpc-js peer string (`ipv4:1.2.3.4:5`, `1.2.3.4:5`, `[::1]:5`). */
export function peerHost(peer: string): string {
  const p = peer.replace(/^ipv[46]:/, "");
  if (p.startsWith("[")) return p.slice(1, p.indexOf("]"));
  const i = p.lastIndexOf(":");
  return i > 0 && p.indexOf(":") === i ? p.slice(0, i) : p;
}
