import { existsSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import { ConfigError } from "@cloister/core";
import { recheckHardwareEvidence } from "@cloister/evidence";
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
    peer = await attestEndpoint(address, {
      ...policyFor(trust, o.enclave),
      verifyHardwareEvidence: recheckHardwareEvidence,
    });
  } else {
    const der = await fetchCertificate(address);
    const policy = {
      asRootCa: trust.asRootCaPem,
      accepted: names.map((n) => policyFor(trust, n).accepted[0]!),
      acceptedStatuses: ["OK"],
      verifyHardwareEvidence: recheckHardwareEvidence,
    };
    peer = verifyAttestedCertificate(der, policy);
  }
  // Under the combined topology one process (one measurement) serves several enclave names.
  const info = parseEnclaveInfo(readFileSync(o.enclaveInfo));
  const sharing = names.filter(
    (n) => info[n]?.mrEnclave === peer.mrEnclave && info[n]?.mrSigner === peer.mrSigner,
  );
  return formatAttestation(address, peer, o.json ?? false, sharing.length ? sharing : [peer.name]);
}

/** What `cloister attest` prints about a verified peer (human text, or the `--json` object). */
export function formatAttestation(
  address: string,
  peer: VerifiedPeer,
  json: boolean,
  enclaves: readonly string[] = [peer.name],
): string {
  const view = {
    address,
    verified: true,
    enclave: enclaves.join(", "),
    /** Every enclave_info.toml name that publishes this measurement (several: one combined process). */
    enclaves,
    mr_enclave: peer.mrEnclave,
    mr_signer: peer.mrSigner,
    quote_status: peer.quoteStatus,
    simulated: peer.simulated,
    tee: peer.tee,
    tcb_status: peer.tcbStatus,
    tee_measurements: peer.teeMeasurements ?? null,
    report_time: peer.timestamp.toISOString(),
  };
  if (json) return JSON.stringify(view, null, 2);
  return [
    `${address}: attestation verified`,
    `  enclave      ${view.enclave}`,
    `  mr_enclave   ${view.mr_enclave}`,
    `  mr_signer    ${view.mr_signer}`,
    `  status       ${view.quote_status}`,
    `  evidence     ${view.simulated ? "SIMULATED TEE (no hardware guarantee)" : `hardware TEE: ${view.tee}`}`,
    `  tcb status   ${view.simulated ? "SIMULATED (no TCB)" : (view.tcb_status ?? "-")}`,
    ...Object.entries(view.tee_measurements ?? {}).map(
      ([k, v]) => `  ${k.padEnd(12)} ${typeof v === "object" ? JSON.stringify(v) : String(v)}`,
    ),
    `  reported at  ${view.report_time}`,
  ].join("\n");
}
