import { existsSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import { ConfigError } from "@cloister/core";
import { attestEndpoint, fetchCertificate, policyFor, trustFromFiles } from "@cloister/sdk";
import { parseEnclaveInfo, type VerifiedPeer, verifyAttestedCertificate } from "@cloister/tee";

export interface AttestOptions {
  asRootCa: string;
  enclaveInfo: string;
  /** Enclave to expect; default: whichever entry of enclave_info.toml matches. */
  enclave?: string | undefined;
  json?: boolean;
}

/** `cloister attest HOST:PORT`: verify an endpoint's evidence and say what it proves. */
export async function attest(address: string, o: AttestOptions): Promise<string> {
  for (const [path, flag] of [
    [o.asRootCa, "--as-root-ca"],
    [o.enclaveInfo, "--enclave-info"],
  ] as const) {
    if (!existsSync(path))
      throw new ConfigError(
        `cannot read ${resolve(path)}: give ${flag} or --data-dir (the platform's data directory)`,
      );
  }
  const trust = trustFromFiles(o.asRootCa, o.enclaveInfo);
  const names = o.enclave ? [o.enclave] : Object.keys(parseEnclaveInfo(readFileSync(o.enclaveInfo)));
  let peer: VerifiedPeer;
  if (o.enclave) {
    peer = await attestEndpoint(address, policyFor(trust, o.enclave));
  } else {
    const der = await fetchCertificate(address);
    const policy = {
      asRootCa: trust.asRootCaPem,
      accepted: names.map((n) => policyFor(trust, n).accepted[0]!),
      acceptedStatuses: ["OK"],
    };
    peer = verifyAttestedCertificate(der, policy);
  }
  const view = {
    address,
    verified: true,
    enclave: peer.name,
    mr_enclave: peer.mrEnclave,
    mr_signer: peer.mrSigner,
    quote_status: peer.quoteStatus,
    simulated: peer.simulated,
    report_time: peer.timestamp.toISOString(),
  };
  if (o.json) return JSON.stringify(view, null, 2);
  return [
    `${address}: attestation verified`,
    `  enclave      ${view.enclave}`,
    `  mr_enclave   ${view.mr_enclave}`,
    `  mr_signer    ${view.mr_signer}`,
    `  status       ${view.quote_status}`,
    `  evidence     ${view.simulated ? "SIMULATED TEE (no hardware guarantee)" : "hardware TEE"}`,
    `  reported at  ${view.report_time}`,
  ].join("\n");
}
