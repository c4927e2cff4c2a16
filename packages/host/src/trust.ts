import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { type CloisterConfig, dataPath } from "@cloister/config";
import { ConfigError } from "@cloister/core";
import type { PeerVerifier } from "@cloister/rpc";
import {
  AttestationFiles,
  type AttestationPolicy,
  acceptedFromEnclaveInfo,
  type EnclaveInfo,
  parseEnclaveInfo,
  verifyAttestedCertificate,
  verifyEnclaveInfoSignatures,
} from "@cloister/tee";

/** What a verifier needs to know about the platform: whom to trust and for which code. */
export interface PlatformTrust {
  asRootCaPem: string;
  enclaveInfo: EnclaveInfo;
  acceptedStatuses: string[];
}

export const AUDITORS_DIR = "auditors";

export function enclaveInfoPath(config: CloisterConfig): string {
  return config.audit.enclave_info
    ? dataPath(config, config.audit.enclave_info)
    : join(config.data_dir, "enclave_info.toml");
}

export function asRootCaPath(config: CloisterConfig): string {
  return config.attestation.as_root_ca
    ? dataPath(config, config.attestation.as_root_ca)
    : join(config.data_dir, AttestationFiles.rootCaCert);
}

function filesIn(dir: string, suffix: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith(suffix))
    .sort()
    .map((f) => join(dir, f));
}

/** Signature and public-key files of the auditors (configured, or everything in `<data>/auditors`). */
export function auditorFiles(config: CloisterConfig): { signatures: string[]; publicKeys: string[] } {
  const dir = join(config.data_dir, AUDITORS_DIR);
  return {
    signatures: (config.audit.auditor_signatures ?? filesIn(dir, ".sign.sha256")).map((p) =>
      dataPath(config, p),
    ),
    publicKeys: (config.audit.auditor_public_keys ?? filesIn(dir, ".public.pem")).map((p) =>
      dataPath(config, p),
    ),
  };
}

/**
 * Loads the platform's trust material. With `verifyAuditors`, enclave_info.toml must carry at
 * least one auditor signature and every signature must verify;
 * otherwise the caller refuses to start.
 */
export function loadPlatformTrust(
  config: CloisterConfig,
  options: { verifyAuditors: boolean },
): PlatformTrust {
  const read = (path: string, what: string) => {
    try {
      return readFileSync(path);
    } catch {
      throw new ConfigError(
        `cannot read ${what} at ${path} (run \`cloister up\` or \`cloister platform init\` first)`,
      );
    }
  };
  const infoBytes = read(enclaveInfoPath(config), "enclave_info.toml");
  if (options.verifyAuditors) {
    const { signatures, publicKeys } = auditorFiles(config);
    verifyEnclaveInfoSignatures(
      infoBytes,
      signatures.map((p) => read(p, "auditor signature")),
      publicKeys.map((p) => read(p, "auditor public key").toString("utf8")),
      { minSignatures: 1 },
    );
  }
  return {
    asRootCaPem: read(asRootCaPath(config), "attestation-service root CA").toString("utf8"),
    enclaveInfo: parseEnclaveInfo(infoBytes),
    acceptedStatuses: [...config.attestation.accepted_statuses],
  };
}

/** A policy accepting exactly the named enclaves. */
export function policyFor(trust: PlatformTrust, enclaves: readonly string[]): AttestationPolicy {
  return {
    asRootCa: trust.asRootCaPem,
    accepted: acceptedFromEnclaveInfo(trust.enclaveInfo, enclaves),
    acceptedStatuses: trust.acceptedStatuses,
  };
}

/** A synchronous peer check for the channel layer. */
export function verifierFor(policy: AttestationPolicy): PeerVerifier {
  return (der) => verifyAttestedCertificate(der, policy);
}
