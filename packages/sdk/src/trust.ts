import { readFileSync } from "node:fs";
import { join } from "node:path";
import { connect } from "node:tls";
import { AttestationError } from "@cloister/core";
import { parseHostPort } from "@cloister/rpc";
import {
  type AttestationPolicy,
  acceptedFromEnclaveInfo,
  type EnclaveInfo,
  parseEnclaveInfo,
  type VerifiedPeer,
  verifyAttestedCertificate,
} from "@cloister/tee";

/** What a client must be given to trust a platform (the same two files the Teaclave SDKs take). */
export interface PlatformTrust {
  /** PEM of the attestation service's root CA (`as_root_ca.pem`). */
  asRootCaPem: string;
  /** `enclave_info.toml`: the measurements the client accepts. */
  enclaveInfo: EnclaveInfo;
  /** Quote statuses accepted; default `["OK"]`. */
  acceptedStatuses?: string[];
}

export function trustFromFiles(asRootCaPath: string, enclaveInfoPath: string): PlatformTrust {
  return {
    asRootCaPem: readFileSync(asRootCaPath, "utf8"),
    enclaveInfo: parseEnclaveInfo(readFileSync(enclaveInfoPath)),
  };
}

/** The files `cloister up` writes into its data directory. */
export function trustFromDataDir(dataDir: string): PlatformTrust {
  return trustFromFiles(join(dataDir, "as_root_ca.pem"), join(dataDir, "enclave_info.toml"));
}

export function policyFor(trust: PlatformTrust, enclave: string): AttestationPolicy {
  return {
    asRootCa: trust.asRootCaPem,
    accepted: acceptedFromEnclaveInfo(trust.enclaveInfo, [enclave]),
    acceptedStatuses: trust.acceptedStatuses ?? ["OK"],
  };
}

/** The leaf certificate an endpoint presents, from a TLS handshake that trusts nothing yet. */
export function fetchCertificate(address: string, timeoutMs = 10_000): Promise<Buffer> {
  const { host, port } = parseHostPort(address);
  return new Promise((resolve, reject) => {
    const socket = connect({
      host,
      port,
      servername: undefined,
      rejectUnauthorized: false,
      ALPNProtocols: ["h2"],
    });
    const timer = setTimeout(
      () => socket.destroy(new Error(`timed out connecting to ${address}`)),
      timeoutMs,
    );
    socket.once("secureConnect", () => {
      clearTimeout(timer);
      const raw = socket.getPeerCertificate(true)?.raw;
      socket.end();
      if (!raw) reject(new AttestationError(`${address} presented no certificate`));
      else resolve(Buffer.from(raw));
    });
    socket.once("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

/** Verify what an endpoint proves about its code (e.g. for `cloister attest`). */
export async function attestEndpoint(address: string, policy: AttestationPolicy): Promise<VerifiedPeer> {
  return verifyAttestedCertificate(await fetchCertificate(address), policy);
}
