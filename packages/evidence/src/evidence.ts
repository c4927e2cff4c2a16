// One entry point for any evidence file: the type is detected from the bytes, the matching
// verifier runs, and the result is a TEE-neutral view (status, debug, report data,
// measurements, failures) that the policy appraises.
import { hex } from "./bytes.js";
import type { CollateralSource } from "./collateral-source.js";
import { EvidenceError, type Failure, failureText } from "./errors.js";
import type { IntelCollateral } from "./intel/collateral.js";
import { parsePckExtension } from "./intel/pck.js";
import { looksLikeIntelQuote, parseIntelQuote } from "./intel/quote.js";
import { type IntelVerification, verifyIntelQuote } from "./intel/verify.js";
import { type RaTlsVerification, raTlsPrimaryQuote, verifyRaTlsCertificate } from "./ratls.js";
import { parseCertTable } from "./snp/cert-table.js";
import {
  decodeTcb,
  looksLikeSnpReport,
  parseSnpReport,
  productOf,
  SNP_REPORT_LENGTH,
  SnpPolicy,
  type SnpProduct,
} from "./snp/report.js";
import { type SnpVerification, verifySnpReport } from "./snp/verify.js";
import { loadCerts } from "./x509.js";

export type TeeKind = "sgx" | "tdx" | "sev-snp";
export type EvidenceFormat = "intel-quote" | "snp-report" | "ra-tls-certificate";

export interface SgxMeasurements {
  mr_enclave: string;
  mr_signer: string;
  isv_prod_id: number;
  isv_svn: number;
}
export interface TdxMeasurements {
  mr_td: string;
  rtmr0: string;
  rtmr1: string;
  rtmr2: string;
  rtmr3: string;
  mr_seam: string;
  mr_config_id: string;
  mr_owner: string;
  mr_owner_config: string;
}
export interface SnpMeasurements {
  measurement: string;
  host_data: string;
  /** Guest policy as hex, e.g. `0x3001f`. */
  policy: string;
  chip_id: string;
  reported_tcb: Record<string, number>;
  vmpl: number;
}
export type Measurements = SgxMeasurements | TdxMeasurements | SnpMeasurements;

export interface EvidenceResult {
  format: EvidenceFormat;
  tee: TeeKind;
  /** Every signature, chain, revocation list and collateral window checked out. */
  verified: boolean;
  failures: Failure[];
  /** Intel TCB status; null for SEV-SNP (no TCB Info) or when no collateral was checked. */
  tcbStatus: string | null;
  advisoryIds: string[];
  debug: boolean;
  reportData: Buffer;
  measurements: Measurements;
  intel?: IntelVerification;
  snp?: SnpVerification;
  ratls?: RaTlsVerification;
}

export interface EvidenceInputs {
  now: Date;
  collateral?: IntelCollateral | undefined;
  /** VCEK/VLEK certificate for SNP reports. */
  vcek?: Buffer | string | undefined;
  /** AMD ARK + ASK/ASVK (PEM); default the bundled ones. */
  amdCa?: Buffer | string | undefined;
  snpProduct?: SnpProduct | undefined;
}

const PEM_CERT = "-----BEGIN CERTIFICATE-----";

/** A DER SEQUENCE with a long-form length that spans the buffer (a certificate, not text). */
function looksLikeDerSequence(b: Buffer): boolean {
  if (b.length < 64 || b[0] !== 0x30) return false;
  const n = b[1]! & 0x7f;
  if ((b[1]! & 0x80) === 0 || n < 1 || n > 4 || b.length < 2 + n) return false;
  let len = 0;
  for (let i = 0; i < n; i++) len = len * 256 + b[2 + i]!;
  return 2 + n + len === b.length;
}

/** What the bytes are, without verifying anything. */
export function detectEvidence(b: Buffer): EvidenceFormat {
  if (looksLikeIntelQuote(b)) return "intel-quote";
  if (looksLikeSnpReport(b.subarray(0, SNP_REPORT_LENGTH))) {
    if (b.length === SNP_REPORT_LENGTH) return "snp-report";
    try {
      parseCertTable(b.subarray(SNP_REPORT_LENGTH));
      return "snp-report";
    } catch {
      // not a report followed by its certificate table
    }
  }
  if (b.subarray(0, 4096).toString("latin1").includes(PEM_CERT)) return "ra-tls-certificate";
  if (looksLikeDerSequence(b)) return "ra-tls-certificate";
  throw new EvidenceError("evidence.format", "not an Intel quote, an SNP report or an X.509 certificate");
}

function fromIntel(v: IntelVerification, format: EvidenceFormat): EvidenceResult {
  const q = v.quote;
  const base = {
    format,
    verified: v.failures.length === 0,
    failures: v.failures,
    tcbStatus: v.tcbStatus ?? null,
    advisoryIds: v.advisoryIds,
    intel: v,
  };
  if (q.sgx) {
    const s = q.sgx;
    return {
      ...base,
      tee: "sgx",
      debug: s.debug,
      reportData: s.reportData,
      measurements: {
        mr_enclave: hex(s.mrEnclave),
        mr_signer: hex(s.mrSigner),
        isv_prod_id: s.isvProdId,
        isv_svn: s.isvSvn,
      },
    };
  }
  const t = q.td!;
  return {
    ...base,
    tee: "tdx",
    debug: t.debug,
    reportData: t.reportData,
    measurements: {
      mr_td: hex(t.mrTd),
      rtmr0: hex(t.rtmr[0]),
      rtmr1: hex(t.rtmr[1]),
      rtmr2: hex(t.rtmr[2]),
      rtmr3: hex(t.rtmr[3]),
      mr_seam: hex(t.mrSeam),
      mr_config_id: hex(t.mrConfigId),
      mr_owner: hex(t.mrOwner),
      mr_owner_config: hex(t.mrOwnerConfig),
    },
  };
}

function fromSnp(v: SnpVerification): EvidenceResult {
  const r = v.report;
  const tcb: Record<string, number> = {};
  if (v.reportedTcb) {
    const { raw: _raw, ...fields } = v.reportedTcb;
    for (const [k, x] of Object.entries(fields)) if (typeof x === "number") tcb[k] = x;
  }
  return {
    format: "snp-report",
    tee: "sev-snp",
    verified: v.failures.length === 0,
    failures: v.failures,
    tcbStatus: null,
    advisoryIds: [],
    debug: (r.policy & SnpPolicy.debug) !== 0n,
    reportData: r.reportData,
    measurements: {
      measurement: hex(r.measurement),
      host_data: hex(r.hostData),
      policy: `0x${r.policy.toString(16)}`,
      chip_id: hex(r.chipId),
      reported_tcb: tcb,
      vmpl: r.vmpl,
    },
    snp: v,
  };
}

/** Verifies evidence of any supported kind at `inputs.now`. Throws only when nothing can be parsed. */
export function verifyEvidence(bytes: Buffer, inputs: EvidenceInputs): EvidenceResult {
  const format = detectEvidence(bytes);
  if (format === "intel-quote") return fromIntel(verifyIntelQuote(bytes, inputs), format);
  if (format === "snp-report") {
    const report = bytes.subarray(0, SNP_REPORT_LENGTH);
    let vcek = inputs.vcek;
    if (!vcek && bytes.length > SNP_REPORT_LENGTH) {
      const table = parseCertTable(bytes.subarray(SNP_REPORT_LENGTH));
      vcek = parseSnpReport(report).signingKey === 1 ? table.vlek : table.vcek;
    }
    return fromSnp(
      verifySnpReport(report, {
        now: inputs.now,
        signingCert: vcek,
        caCerts: inputs.amdCa,
        product: inputs.snpProduct,
      }),
    );
  }
  const ratls = verifyRaTlsCertificate(bytes, { now: inputs.now, collateral: inputs.collateral });
  const primary = ratls.quotes[0];
  if (!primary) {
    const first = ratls.failures[0];
    throw new EvidenceError(
      first?.check ?? "ratls.format",
      first?.message ?? "no verifiable quote in the certificate",
    );
  }
  const out = fromIntel(primary.verification, "ra-tls-certificate");
  return { ...out, failures: ratls.failures, verified: ratls.failures.length === 0, ratls };
}

export interface SourcedInputs extends Omit<EvidenceInputs, "collateral"> {
  source: CollateralSource;
}

/** Like verifyEvidence, with Intel collateral and AMD certificates asked of `source` as needed. */
export async function verifyEvidenceFrom(bytes: Buffer, o: SourcedInputs): Promise<EvidenceResult> {
  const format = detectEvidence(bytes);
  const inputs: EvidenceInputs = { ...o };
  if (format === "snp-report") {
    const r = parseSnpReport(bytes.subarray(0, SNP_REPORT_LENGTH));
    const known = productOf(r) ?? o.snpProduct;
    // A v2 report does not name its product: ask for each (the certificate names it).
    const products: SnpProduct[] = known ? [known] : ["Milan", "Genoa", "Turin"];
    if (!o.vcek && bytes.length === SNP_REPORT_LENGTH && (r.signingKey === 0 || r.signingKey === 1)) {
      for (const product of products) {
        inputs.vcek = await o.source.amdSigningCert({
          product,
          kind: r.signingKey === 0 ? "vcek" : "vlek",
          chipId: r.chipId,
          reportedTcb: decodeTcb(r.reportedTcbRaw, product),
        });
        if (inputs.vcek) break;
      }
    }
    return verifyEvidence(bytes, inputs);
  }
  const quote = format === "intel-quote" ? bytes : raTlsPrimaryQuote(bytes);
  if (quote) {
    try {
      const q = parseIntelQuote(quote);
      const chain = loadCerts(q.certificationData.toString("latin1"), "PCK chain", "pck_chain");
      const ext = parsePckExtension(chain[0]!);
      inputs.collateral = await o.source.intel({
        tee: q.tee,
        fmspc: ext.fmspc.toString("hex"),
        ca: /Processor/.test(chain[1]?.subjectCn ?? "") ? "processor" : "platform",
      });
    } catch (e) {
      // The verifier reports what is wrong with the quote itself.
      if (!(e instanceof EvidenceError)) throw e;
    }
  }
  return verifyEvidence(bytes, inputs);
}

/**
 * Evidence saved as text (hex or base64 of the bytes, as some tools write it) → the bytes;
 * anything already recognisable, or not such text, is returned unchanged.
 */
export function decodeEvidenceText(b: Buffer): Buffer {
  try {
    detectEvidence(b);
    return b;
  } catch {
    // not raw evidence: maybe text
  }
  const t = b.toString("latin1").replace(/\s+/g, "");
  let decoded: Buffer | undefined;
  if (/^(?:0x)?(?:[0-9a-fA-F]{2})+$/.test(t)) decoded = Buffer.from(t.replace(/^0x/, ""), "hex");
  else if (/^[A-Za-z0-9+/]+={0,2}$/.test(t) || /^[A-Za-z0-9_-]+$/.test(t))
    decoded = Buffer.from(t, t.includes("-") || t.includes("_") ? "base64url" : "base64");
  if (!decoded) return b;
  try {
    detectEvidence(decoded);
    return decoded;
  } catch {
    return b;
  }
}

/**
 * For `AttestationPolicy.verifyHardwareEvidence`: re-checks the hardware evidence a verifying
 * attestation service embedded in its report — signatures, certificate chains, key binding —
 * and throws when any fails. The TCB status stays the service's (it had the collateral).
 */
export function recheckHardwareEvidence(evidence: Buffer, now: Date): void {
  const r = verifyEvidence(evidence, { now });
  // Without collateral (Intel) or a certificate table (SNP, VCEK fetched by the service) those
  // parts cannot be re-checked here; everything else must hold.
  const failed = r.failures.filter((f) => f.check !== "collateral.missing" && f.check !== "snp.certificate");
  if (failed.length)
    throw new EvidenceError(
      failed[0]!.check,
      `embedded hardware evidence: ${failed.map(failureText).join("; ")}`,
    );
}
