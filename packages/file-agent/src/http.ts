import type { LookupAddress } from "node:dns";
import { lookup as dnsLookup } from "node:dns/promises";
import { request as httpRequest, type IncomingMessage, type RequestOptions } from "node:http";
import { request as httpsRequest } from "node:https";
import type { LookupFunction } from "node:net";
import { parseIp } from "./address.js";
import { EgressPolicy } from "./egress.js";
import { FileAgentError } from "./errors.js";

/** Resolves a host name to its addresses (tests substitute one; production uses getaddrinfo). */
export type Resolver = (hostname: string) => Promise<Array<{ address: string; family: number }>>;

export const systemResolver: Resolver = (hostname) => dnsLookup(hostname, { all: true, verbatim: true });

export interface SendOptions {
  method: "GET" | "PUT";
  headers?: Record<string, string>;
  body?: Buffer;
  /** Aborts the request: the caller's cancellation and the transfer timeout together. */
  signal: AbortSignal;
}

/**
 * One HTTP(S) request that connects only where the policy allows. The address is checked inside
 * the connection's own `lookup`, so the address checked is the address connected to: a host name
 * that resolves differently a moment later (DNS rebinding) cannot switch it. No connection is
 * reused (`agent: false`), so every request, redirects included, resolves and checks again. TLS
 * still verifies the certificate against the host name (SNI is the name, not the address).
 */
export function send(
  url: URL,
  options: SendOptions,
  policy: EgressPolicy,
  resolver: Resolver,
): Promise<IncomingMessage> {
  policy.checkUrl(url);
  const host = url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname;
  const literal = parseIp(host);
  const port = EgressPolicy.portOf(url);
  if (literal) policy.checkAddress(literal, port);

  let refusal: unknown;
  const lookup: LookupFunction = (hostname, lookupOptions, callback) => {
    checkedAddresses(hostname, lookupOptions.family, port, policy, resolver).then(
      (addresses) => {
        if (lookupOptions.all) (callback as (e: null, a: LookupAddress[]) => void)(null, addresses);
        else callback(null, addresses[0]!.address, addresses[0]!.family);
      },
      (e: NodeJS.ErrnoException) => {
        refusal = e;
        callback(e, "", 0);
      },
    );
  };
  const requestOptions: RequestOptions = {
    method: options.method,
    hostname: host,
    port: url.port === "" ? undefined : Number(url.port),
    path: `${url.pathname}${url.search}`,
    headers: options.headers,
    agent: false,
    lookup,
    signal: options.signal,
  };
  return new Promise((resolve, reject) => {
    const req = (url.protocol === "https:" ? httpsRequest : httpRequest)(requestOptions, resolve);
    req.once("error", (e) => reject(refusal ?? e));
    req.end(options.body);
  });
}

async function checkedAddresses(
  hostname: string,
  family: number | string | undefined,
  port: number,
  policy: EgressPolicy,
  resolver: Resolver,
): Promise<LookupAddress[]> {
  let answers: Array<{ address: string; family: number }>;
  try {
    answers = await resolver(hostname);
  } catch (e) {
    throw new FileAgentError("HOST_NOT_FOUND", "host not found", { cause: e });
  }
  const wanted = family === 4 || family === "IPv4" ? 4 : family === 6 || family === "IPv6" ? 6 : 0;
  let firstRefusal: unknown;
  const allowed: LookupAddress[] = [];
  for (const a of answers) {
    if (wanted !== 0 && a.family !== wanted) continue;
    const ip = parseIp(a.address);
    if (!ip) continue;
    try {
      policy.checkAddress(ip, port);
      allowed.push({ address: a.address, family: ip.length === 4 ? 4 : 6 });
    } catch (e) {
      firstRefusal ??= e;
    }
  }
  if (allowed.length > 0) return allowed;
  throw firstRefusal ?? new FileAgentError("HOST_NOT_FOUND", "host not found");
}
