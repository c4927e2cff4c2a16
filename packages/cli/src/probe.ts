// Probing a platform's endpoints: is something listening, and does it prove (by attestation)
// that it runs the code the trusted enclave_info.toml lists? Shared by `doctor` and `status`.
import type { CloisterConfig } from "@cloister/config";
import { fetchCertificate, type PlatformTrust, policyFor } from "@cloister/sdk";
import { type VerifiedPeer, verifyAttestedCertificate } from "@cloister/tee";

export interface EndpointSpec {
  /** e.g. `frontend API`. */
  name: string;
  /** The config key that moves it (`listen.<key>`), when it comes from the configuration. */
  configKey?: string;
  address: string;
  enclave: string;
}

export type Probe =
  | { state: "attested"; peer: VerifiedPeer }
  /** A TLS endpoint answers, but there were no trust files to check its attestation against. */
  | { state: "unverified" }
  | { state: "down"; reason: string }
  | { state: "foreign"; reason: string };

const LISTEN: Array<[keyof CloisterConfig["listen"], string, string]> = [
  ["authentication_api", "authentication API", "authentication"],
  ["frontend", "frontend API", "frontend"],
  ["authentication_internal", "authentication (internal)", "authentication"],
  ["management", "management (internal)", "management"],
  ["storage", "storage (internal)", "storage"],
  ["access_control", "access control (internal)", "access_control"],
  ["scheduler", "scheduler (internal)", "scheduler"],
];

/** Where a listen address is reached from this machine (`0.0.0.0` and `::` mean localhost). */
export function localAddress(listen: string): string {
  const i = listen.lastIndexOf(":");
  const host = listen.slice(0, i);
  const local = host === "0.0.0.0" || host === "[::]" || host === "::" || host === "" ? "localhost" : host;
  return `${local}:${listen.slice(i + 1)}`;
}

/** Every endpoint the configuration puts on this machine. */
export function configuredEndpoints(config: CloisterConfig): EndpointSpec[] {
  return LISTEN.map(([key, name, service]) => ({
    name,
    configKey: `listen.${key}`,
    address: localAddress(config.listen[key]),
    enclave: `teaclave_${service}_service`,
  }));
}

const REFUSED = new Set(["ECONNREFUSED", "EHOSTUNREACH", "ENETUNREACH", "ENOTFOUND", "EAI_AGAIN"]);

export async function probe(
  endpoint: EndpointSpec,
  trust: PlatformTrust | undefined,
  timeoutMs = 3000,
): Promise<Probe> {
  let der: Buffer;
  try {
    der = await fetchCertificate(endpoint.address, timeoutMs);
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code && REFUSED.has(code)) return { state: "down", reason: `nothing listens there (${code})` };
    return { state: "foreign", reason: `not a TLS endpoint of this platform: ${(e as Error).message}` };
  }
  if (!trust) return { state: "unverified" };
  try {
    return { state: "attested", peer: verifyAttestedCertificate(der, policyFor(trust, endpoint.enclave)) };
  } catch (e) {
    return { state: "foreign", reason: `attestation failed: ${(e as Error).message}` };
  }
}
