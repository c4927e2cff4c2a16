// The attestation report (spec §4) and the certificate extension payload that carries it (§3).
import { randomUUID } from "node:crypto";
import { AttestationError } from "@cloister/core";

/** Every quote status the legacy verifier knows (§7.3; `UNSPECIFIED` as in DCAP builds). */
export const KNOWN_QUOTE_STATUSES = [
  "OK",
  "SIGNATURE_INVALID",
  "GROUP_REVOKED",
  "SIGNATURE_REVOKED",
  "KEY_REVOKED",
  "SIGRL_VERSION_MISMATCH",
  "GROUP_OUT_OF_DATE",
  "OUT_OF_DATE",
  "OUT_OF_DATE_CONFIGURATION_NEEDED",
  "CONFIGURATION_NEEDED",
  "SW_HARDENING_NEEDED",
  "CONFIGURATION_AND_SW_HARDENING_NEEDED",
  "UNSPECIFIED",
] as const;
export type QuoteStatus = (typeof KNOWN_QUOTE_STATUSES)[number];

/** Our default: only a fully up-to-date platform is accepted. */
export const DEFAULT_ACCEPTED_STATUSES: readonly string[] = ["OK"];

/**
 * What the legacy verifier accepted by default: every known status, even revoked or invalid
 * ones. Provided for comparison and for deliberately lenient deployments; not recommended.
 */
export const LEGACY_ACCEPTED_STATUSES: readonly string[] = KNOWN_QUOTE_STATUSES;

/** Statuses a verifier should never accept (§7.3 recommendation). */
export const RECOMMENDED_REJECTED_STATUSES: readonly string[] = [
  "SIGNATURE_INVALID",
  "GROUP_REVOKED",
  "SIGNATURE_REVOKED",
  "KEY_REVOKED",
  "UNSPECIFIED",
];

/** Value of the extra report member that marks evidence produced without hardware. */
export const SIMULATED_EVIDENCE_MARKER = "simulated";

const pad = (n: number, w = 2) => String(n).padStart(w, "0");

/** `%Y-%m-%dT%H:%M:%S.ffffff` in UTC, no zone suffix (microseconds; the clock has ms). */
export function formatReportTimestamp(d: Date): string {
  return (
    `${pad(d.getUTCFullYear(), 4)}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}` +
    `T${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}.${pad(d.getUTCMilliseconds(), 3)}000`
  );
}

/**
 * Parses a report timestamp (`%Y-%m-%dT%H:%M:%S%.f`, implicitly UTC). Fractions beyond
 * milliseconds are truncated, which can only make the timestamp earlier by < 1 ms.
 */
export function parseReportTimestamp(s: string): Date {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?$/.exec(s);
  if (!m) throw new AttestationError("report timestamp is malformed");
  const [y, mo, d, h, mi, se] = [1, 2, 3, 4, 5, 6].map((i) => Number(m[i]));
  const ms = m[7] ? Number(m[7].padEnd(3, "0").slice(0, 3)) : 0;
  const t = new Date(Date.UTC(y!, mo! - 1, d, h, mi, se, ms));
  if (
    t.getUTCFullYear() !== y ||
    t.getUTCMonth() !== mo! - 1 ||
    t.getUTCDate() !== d ||
    t.getUTCHours() !== h ||
    t.getUTCMinutes() !== mi ||
    t.getUTCSeconds() !== se
  ) {
    throw new AttestationError("report timestamp is out of range");
  }
  return t;
}

export interface ReportFields {
  quoteBody: Buffer;
  status?: string;
  /** Defaults to now. */
  timestamp?: Date;
  simulated?: boolean;
  /** Verified hardware evidence (attestation service of a real TEE). */
  hardware?: HardwareReportFields;
}

/** What a verifying attestation service adds to its report about the evidence it checked. */
export interface HardwareReportFields {
  tee: "sgx" | "tdx" | "sev-snp";
  /** Intel TCB status, or null (SEV-SNP has none). */
  tcbStatus: string | null;
  advisoryIds: string[];
  /** The full evidence (quote, or SNP report with its certificate table). */
  evidence: Buffer;
  /** The TEE's own measurements (hex), e.g. mr_td and rtmr0..3 for TDX. */
  measurements: Record<string, unknown>;
}

/** Value of `cloisterEvidence` when real hardware evidence was verified before signing. */
export const VERIFIED_EVIDENCE_MARKER = "verified-hardware";

/**
 * The report body of the emulated attestation service: the members of the DCAP reference
 * service (§4.2) in its alphabetical order, plus `cloisterEvidence` when simulated.
 */
export function buildReport(f: ReportFields): Buffer {
  const obj: Record<string, unknown> = {};
  if (f.simulated) obj["cloisterEvidence"] = SIMULATED_EVIDENCE_MARKER;
  else if (f.hardware) {
    obj["cloisterAdvisoryIds"] = f.hardware.advisoryIds;
    obj["cloisterEvidence"] = VERIFIED_EVIDENCE_MARKER;
    obj["cloisterEvidenceBytes"] = f.hardware.evidence.toString("base64");
    obj["cloisterMeasurements"] = f.hardware.measurements;
    obj["cloisterTcbStatus"] = f.hardware.tcbStatus;
    obj["cloisterTee"] = f.hardware.tee;
  }
  obj["id"] = randomUUID().replaceAll("-", "");
  obj["isvEnclaveQuoteBody"] = f.quoteBody.toString("base64");
  obj["isvEnclaveQuoteStatus"] = f.status ?? "OK";
  obj["timestamp"] = formatReportTimestamp(f.timestamp ?? new Date());
  obj["version"] = 4;
  return Buffer.from(JSON.stringify(obj), "utf8");
}

export interface ParsedReport {
  version: number;
  timestamp: Date;
  timestampText: string;
  status: string;
  quoteBody: Buffer;
  simulatedMarker: boolean;
  /** Present when the report says hardware evidence was verified. */
  hardware?: HardwareReportFields;
  json: Record<string, unknown>;
}

function hardwareMembers(r: Record<string, unknown>): HardwareReportFields | undefined {
  if (r["cloisterEvidence"] !== VERIFIED_EVIDENCE_MARKER) return undefined;
  const tee = r["cloisterTee"];
  const status = r["cloisterTcbStatus"];
  const adv = r["cloisterAdvisoryIds"];
  const ev = r["cloisterEvidenceBytes"];
  const m = r["cloisterMeasurements"];
  if (
    (tee !== "sgx" && tee !== "tdx" && tee !== "sev-snp") ||
    (status !== null && typeof status !== "string") ||
    !Array.isArray(adv) ||
    !adv.every((a) => typeof a === "string") ||
    typeof ev !== "string" ||
    typeof m !== "object" ||
    m === null
  )
    throw new AttestationError("attestation report has malformed hardware evidence members");
  return {
    tee,
    tcbStatus: status,
    advisoryIds: adv as string[],
    evidence: decodeBase64Strict(ev),
    measurements: m as Record<string, unknown>,
  };
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Strict standard base64 (padding required, canonical trailing bits). */
export function decodeBase64Strict(s: string): Buffer {
  if (!BASE64.test(s)) throw new AttestationError("isvEnclaveQuoteBody is not standard base64");
  const b = Buffer.from(s, "base64");
  if (b.toString("base64") !== s) throw new AttestationError("isvEnclaveQuoteBody is not canonical base64");
  return b;
}

/** Parses the report JSON and checks the API version (§7.1 step 6). */
export function parseReport(report: Buffer): ParsedReport {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(report));
  } catch {
    throw new AttestationError("attestation report is not valid JSON");
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    throw new AttestationError("attestation report is not a JSON object");
  }
  const r = json as Record<string, unknown>;
  if (r["version"] !== 4) throw new AttestationError("Attestation Service API version not compatible");
  if (typeof r["timestamp"] !== "string") throw new AttestationError("attestation report has no timestamp");
  if (typeof r["isvEnclaveQuoteStatus"] !== "string") {
    throw new AttestationError("attestation report has no isvEnclaveQuoteStatus");
  }
  if (typeof r["isvEnclaveQuoteBody"] !== "string") {
    throw new AttestationError("attestation report has no isvEnclaveQuoteBody");
  }
  return {
    version: 4,
    timestampText: r["timestamp"],
    timestamp: parseReportTimestamp(r["timestamp"]),
    status: r["isvEnclaveQuoteStatus"],
    quoteBody: decodeBase64Strict(r["isvEnclaveQuoteBody"]),
    simulatedMarker: r["cloisterEvidence"] === SIMULATED_EVIDENCE_MARKER,
    ...(hardwareMembers(r) ? { hardware: hardwareMembers(r)! } : {}),
    json: r,
  };
}

// ---------------------------------------------------------------------------------------------
// Extension payload (§3)

/** An attestation service's answer: the report, its signature and the signing chain (leaf first). */
export interface Endorsement {
  report: Buffer;
  signature: Buffer;
  certs: Buffer[];
}

const numbers = (b: Buffer): string => `[${Array.from(b).join(",")}]`;

/** `{"report":[...],"signature":[...],"certs":[[...]]}`, compact, members in that order. */
export function encodePayload(e: Endorsement): Buffer {
  return Buffer.from(
    `{"report":${numbers(e.report)},"signature":${numbers(e.signature)},"certs":[${e.certs.map(numbers).join(",")}]}`,
    "utf8",
  );
}

function byteArray(v: unknown, what: string): Buffer {
  if (!Array.isArray(v)) throw new AttestationError(`extension payload member ${what} is not a byte array`);
  const out = Buffer.alloc(v.length);
  for (let i = 0; i < v.length; i++) {
    const n = v[i];
    if (typeof n !== "number" || !Number.isInteger(n) || n < 0 || n > 255) {
      throw new AttestationError(`extension payload member ${what} is not a byte array`);
    }
    out[i] = n;
  }
  return out;
}

/** Decodes the extension payload; rejects the old v3 format and the empty SW-mode payload. */
export function decodePayload(payload: Buffer): Endorsement {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(payload));
  } catch {
    throw new AttestationError("attestation extension payload is not valid JSON");
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    throw new AttestationError("attestation extension payload is not a JSON object");
  }
  const o = json as Record<string, unknown>;
  if (!("certs" in o) && "signing_cert" in o) {
    throw new AttestationError(
      "attestation payload uses the old report API v3 format (signing_cert), not accepted",
    );
  }
  if (!("report" in o) || !("signature" in o) || !("certs" in o)) {
    throw new AttestationError("attestation extension payload lacks report, signature or certs");
  }
  const report = byteArray(o["report"], "report");
  const signature = byteArray(o["signature"], "signature");
  if (!Array.isArray(o["certs"]))
    throw new AttestationError("extension payload member certs is not an array");
  const certs = o["certs"].map((c, i) => byteArray(c, `certs[${i}]`));
  if (report.length === 0 && signature.length === 0 && certs.length === 0) {
    throw new AttestationError("certificate carries no attestation evidence (simulation-mode payload)");
  }
  if (certs.length === 0)
    throw new AttestationError("extension payload has no report signing certificate (certs is empty)");
  return { report, signature, certs };
}
