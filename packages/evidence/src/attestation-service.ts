// The attestation service for real TEEs: it verifies the hardware evidence in-process
// (signatures, chains, revocation, collateral, policy) and only then signs the IAS-style
// report legacy Teaclave clients check. The report says which TEE and TCB status it saw and
// carries the evidence, so Cloister peers can verify it again themselves.
import { sign } from "node:crypto";
import { join } from "node:path";
import { AttestationError } from "@cloister/core";
import {
  type AttestationService,
  buildReport,
  type Endorsement,
  hardwareTeeOf,
  loadOrCreateReportSigningKeys,
  OID,
  pemEncode,
  type ReportSigningKeys,
  teaclaveQuoteBody,
} from "@cloister/tee";
import type { CollateralSource } from "./collateral-source.js";
import { failureText } from "./errors.js";
import { verifyEvidenceFrom } from "./evidence.js";
import { appraise, defaultPolicy, type EvidencePolicy } from "./policy.js";

const ORGANIZATION = "Cloister (hardware TEE evidence verified in-process)";
export const VERIFIED_ROOT_CA_SUBJECT = [
  { oid: OID.organizationName, value: ORGANIZATION },
  { oid: OID.commonName, value: "Cloister Attestation Root CA" },
];
export const VERIFIED_SIGNING_SUBJECT = [
  { oid: OID.organizationName, value: ORGANIZATION },
  { oid: OID.commonName, value: "Cloister Attestation Report Signing" },
];

/** Key files of the verifying service; the root is published where clients look for it. */
export const VerifyingAttestationFiles = {
  rootCaCert: "as_root_ca.pem",
  rootCaKey: join("attestation", "hardware-root-ca.key.pem"),
  signingKey: join("attestation", "hardware-report-signing.key.pem"),
} as const;

/** Intel TCB status → the legacy quote status a Teaclave client understands (spec §4.2). */
export const QUOTE_STATUS_OF: Record<string, string> = {
  UpToDate: "OK",
  SWHardeningNeeded: "SW_HARDENING_NEEDED",
  ConfigurationNeeded: "CONFIGURATION_NEEDED",
  ConfigurationAndSWHardeningNeeded: "CONFIGURATION_AND_SW_HARDENING_NEEDED",
  OutOfDate: "OUT_OF_DATE",
  OutOfDateConfigurationNeeded: "OUT_OF_DATE_CONFIGURATION_NEEDED",
  TDRelaunchAdvised: "OUT_OF_DATE",
  TDRelaunchAdvisedConfigurationNeeded: "OUT_OF_DATE_CONFIGURATION_NEEDED",
  Revoked: "KEY_REVOKED",
};

export interface VerifyingAttestationServiceOptions {
  /** Intel collateral and AMD certificates (offline files, a cache, online fetchers). */
  source: CollateralSource;
  /** What evidence is endorsed; default: UpToDate only, no debug. */
  policy?: EvidencePolicy;
  /** Verification time and report timestamps; default the system clock. */
  now?: () => Date;
  signingValidityMs?: number;
}

/** Rejected evidence: `reasons` name every failed check. */
export class EvidenceRejectedError extends AttestationError {
  constructor(readonly reasons: string[]) {
    super(`invalid evidence payload: ${reasons.join("; ")}`);
    this.name = "EvidenceRejectedError";
  }
}

export class VerifyingAttestationService implements AttestationService {
  private constructor(
    private readonly keys: ReportSigningKeys,
    private readonly o: VerifyingAttestationServiceOptions,
  ) {}

  static async loadOrCreate(
    dataDir: string,
    o: VerifyingAttestationServiceOptions,
  ): Promise<VerifyingAttestationService> {
    const keys = await loadOrCreateReportSigningKeys(dataDir, {
      rootSubject: VERIFIED_ROOT_CA_SUBJECT,
      signingSubject: VERIFIED_SIGNING_SUBJECT,
      files: VerifyingAttestationFiles,
      ...(o.now ? { now: o.now } : {}),
      ...(o.signingValidityMs ? { signingValidityMs: o.signingValidityMs } : {}),
    });
    return new VerifyingAttestationService(keys, o);
  }

  get rootCaPem(): string {
    return pemEncode("CERTIFICATE", this.keys.root.certDer);
  }

  /** Verifies `evidence` now and, if the policy accepts it, signs a report about it. */
  async endorse(evidence: Buffer): Promise<Endorsement> {
    if (!Buffer.isBuffer(evidence) || !hardwareTeeOf(evidence))
      throw new EvidenceRejectedError(["evidence.format: not SGX, TDX or SEV-SNP hardware evidence"]);
    const now = (this.o.now ?? (() => new Date()))();
    let result: Awaited<ReturnType<typeof verifyEvidenceFrom>>;
    try {
      result = await verifyEvidenceFrom(evidence, { now, source: this.o.source });
    } catch (e) {
      if (e instanceof AttestationError) throw new EvidenceRejectedError([e.message]);
      throw e;
    }
    const verdict = appraise(result, this.o.policy ?? defaultPolicy());
    if (!verdict.accepted) throw new EvidenceRejectedError(verdict.reasons.map(failureText));
    const report = buildReport({
      quoteBody: teaclaveQuoteBody(evidence),
      status: result.tcbStatus ? (QUOTE_STATUS_OF[result.tcbStatus] ?? "UNSPECIFIED") : "OK",
      timestamp: now,
      hardware: {
        tee: result.tee,
        tcbStatus: result.tcbStatus,
        advisoryIds: result.advisoryIds,
        evidence: Buffer.from(evidence),
        measurements: { ...result.measurements },
      },
    });
    const signature = sign("sha256", report, this.keys.signer.key);
    return { report, signature, certs: [Buffer.from(this.keys.signer.certDer)] };
  }
}
