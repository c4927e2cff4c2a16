import { isIPv4, isIPv6 } from "node:net";

/**
 * Why an address may not be reached by default. `public` is the only class the file agent
 * reaches without an explicit exception.
 */
export type AddressClass =
  | "public"
  | "loopback"
  | "private"
  | "link-local"
  | "multicast"
  | "unspecified"
  | "reserved"
  | "metadata";

/** An IP address as 4 (IPv4) or 16 (IPv6) bytes. */
export type IpBytes = Uint8Array;

/** Parses a textual IPv4 or IPv6 address (brackets and a zone id allowed); undefined if it is none. */
export function parseIp(text: string): IpBytes | undefined {
  let s = text.startsWith("[") && text.endsWith("]") ? text.slice(1, -1) : text;
  const zone = s.indexOf("%");
  if (zone >= 0) s = s.slice(0, zone);
  if (isIPv4(s)) return Uint8Array.from(s.split(".").map(Number));
  if (isIPv6(s)) return parseIpv6(s);
  return undefined;
}

function parseIpv6(s: string): IpBytes {
  const groups = (part: string): number[] => {
    if (part === "") return [];
    const out: number[] = [];
    for (const g of part.split(":")) {
      if (g.includes(".")) {
        const v4 = g.split(".").map(Number);
        out.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
      } else out.push(Number.parseInt(g, 16));
    }
    return out;
  };
  const gap = s.indexOf("::");
  const head = groups(gap < 0 ? s : s.slice(0, gap));
  const tail = gap < 0 ? [] : groups(s.slice(gap + 2));
  const all = [...head, ...new Array(8 - head.length - tail.length).fill(0), ...tail];
  const bytes = new Uint8Array(16);
  all.forEach((g, i) => {
    bytes[2 * i] = g >> 8;
    bytes[2 * i + 1] = g & 0xff;
  });
  return bytes;
}

export function formatIp(ip: IpBytes): string {
  if (ip.length === 4) return ip.join(".");
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((ip[i]! << 8) | ip[i + 1]!).toString(16));
  return groups.join(":").replace(/(^|:)0(:0)+(:|$)/, "::");
}

const zeroUpTo = (ip: IpBytes, end: number) => ip.subarray(0, end).every((b) => b === 0);

/**
 * The IPv4 address an IPv6 form carries, where connecting to it reaches (or may reach) that IPv4
 * host: IPv4-mapped `::ffff:a.b.c.d`, IPv4-compatible `::a.b.c.d`, IPv4-translated
 * `::ffff:0:a.b.c.d`, NAT64 `64:ff9b::a.b.c.d` and 6to4 `2002:AABB:CCDD::`.
 */
export function embeddedIpv4(ip: IpBytes): IpBytes | undefined {
  if (ip.length !== 16) return undefined;
  const last4 = ip.slice(12, 16);
  if (zeroUpTo(ip, 10) && ip[10] === 0xff && ip[11] === 0xff) return last4;
  if (zeroUpTo(ip, 8) && ip[8] === 0xff && ip[9] === 0xff && ip[10] === 0 && ip[11] === 0) return last4;
  // `::` and `::1` are IPv6's own unspecified and loopback addresses, not compatible forms.
  if (zeroUpTo(ip, 12) && !zeroUpTo(ip, 15)) return last4;
  if (ip[0] === 0 && ip[1] === 0x64 && ip[2] === 0xff && ip[3] === 0x9b && zeroUpTo(ip.subarray(4), 8))
    return last4;
  if (ip[0] === 0x20 && ip[1] === 0x02) return ip.slice(2, 6);
  return undefined;
}

/** The address that decides reachability: an IPv6 form's embedded IPv4 address, else itself. */
export function effectiveIp(ip: IpBytes): IpBytes {
  return embeddedIpv4(ip) ?? ip;
}

export interface Cidr {
  bytes: IpBytes;
  prefix: number;
}

/** `a.b.c.d/n`, `x::y/n` or a single address; IPv4-mapped IPv6 ranges become IPv4 ranges. */
export function parseCidr(text: string): Cidr | undefined {
  const [addr, len, ...rest] = text.split("/");
  if (rest.length > 0 || addr === undefined) return undefined;
  const ip = parseIp(addr);
  if (!ip) return undefined;
  const max = ip.length * 8;
  if (len !== undefined && !/^\d{1,3}$/.test(len)) return undefined;
  const prefix = len === undefined ? max : Number(len);
  if (prefix > max) return undefined;
  const v4 = ip.length === 16 ? embeddedIpv4(ip) : undefined;
  // Only a range wholly inside ::ffff:0:0/96 maps onto IPv4.
  if (v4 && prefix >= 96 && zeroUpTo(ip, 10) && ip[10] === 0xff && ip[11] === 0xff)
    return { bytes: v4, prefix: prefix - 96 };
  return { bytes: ip, prefix };
}

export function cidrContains(range: Cidr, ip: IpBytes): boolean {
  if (range.bytes.length !== ip.length) return false;
  const full = Math.floor(range.prefix / 8);
  for (let i = 0; i < full; i++) if (range.bytes[i] !== ip[i]) return false;
  const bits = range.prefix % 8;
  if (bits === 0) return true;
  const mask = (0xff << (8 - bits)) & 0xff;
  return (range.bytes[full]! & mask) === (ip[full]! & mask);
}

const table = (rows: Array<[string, AddressClass]>) =>
  rows.map(([text, cls]) => ({ range: parseCidr(text)!, cls }));

// IANA's special-purpose address registries, most specific first: everything a file server on
// the Internet cannot be, and the ranges of the node's own networks.
const METADATA = table([
  ["169.254.169.254/32", "metadata"], // AWS, GCP, Azure, OpenStack, Oracle
  ["169.254.170.2/32", "metadata"], // AWS ECS task credentials
  ["100.100.100.200/32", "metadata"], // Alibaba Cloud
  ["fd00:ec2::254/128", "metadata"], // AWS over IPv6
]);
const SPECIAL = table([
  ["0.0.0.0/32", "unspecified"],
  ["0.0.0.0/8", "reserved"],
  ["10.0.0.0/8", "private"],
  ["100.64.0.0/10", "private"], // carrier-grade NAT
  ["127.0.0.0/8", "loopback"],
  ["169.254.0.0/16", "link-local"],
  ["172.16.0.0/12", "private"],
  ["192.0.0.0/24", "reserved"],
  ["192.0.2.0/24", "reserved"],
  ["192.88.99.0/24", "reserved"],
  ["192.168.0.0/16", "private"],
  ["198.18.0.0/15", "reserved"],
  ["198.51.100.0/24", "reserved"],
  ["203.0.113.0/24", "reserved"],
  ["224.0.0.0/4", "multicast"],
  ["240.0.0.0/4", "reserved"], // includes 255.255.255.255
  ["::/128", "unspecified"],
  ["::1/128", "loopback"],
  ["::/8", "reserved"], // what remains of it after the IPv4 forms above
  ["64:ff9b:1::/48", "private"], // local-use NAT64
  ["100::/64", "reserved"], // discard
  ["2001::/23", "reserved"], // protocol assignments, Teredo included
  ["2001:db8::/32", "reserved"],
  ["3fff::/20", "reserved"],
  ["fc00::/7", "private"], // unique local
  ["fe80::/10", "link-local"],
  ["fec0::/10", "private"], // deprecated site-local
  ["ff00::/8", "multicast"],
]);

/** Classifies an address after normalising its IPv6 forms (see embeddedIpv4). */
export function classify(ip: IpBytes): AddressClass {
  const a = effectiveIp(ip);
  for (const rows of [METADATA, SPECIAL]) {
    const hit = rows.find((r) => cidrContains(r.range, a));
    if (hit) return hit.cls;
  }
  return "public";
}
