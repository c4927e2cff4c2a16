// Appraisal policy: which verified evidence is acceptable. Defaults are strict: only an
// up-to-date Intel TCB, no debug enclave or guest, and whatever measurements are listed.
import { createHash, type KeyObject } from "node:crypto";
import { readFileSync } from "node:fs";
import { ConfigError } from "@cloister/core";
import { parse as parseToml } from "smol-toml";
import { z } from "zod";
import type { Failure } from "./errors.js";
import type { EvidenceResult, SgxMeasurements, SnpMeasurements, TdxMeasurements } from "./evidence.js";
import { TCB_STATUSES } from "./intel/tcb.js";
import { SnpPolicy } from "./snp/report.js";

const hexOf = (bytes: number) =>
  z
    .string()
    .regex(new RegExp(`^[0-9a-fA-F]{${bytes * 2}}$`), `expected ${bytes * 2} hex digits`)
    .transform((s) => s.toLowerCase());
const u16 = z.number().int().min(0).max(0xffff);
const spl = z.number().int().min(0).max(255);

/** Statuses no policy may accept. */
const NEVER = ["Revoked", "NotSupported"];

export const policySchema = z
  .object({
    /** Intel TCB statuses accepted. Revoked and NotSupported can never be accepted. */
    accepted_tcb_statuses: z
      .array(z.enum(TCB_STATUSES as [string, ...string[]]))
      .nonempty()
      .refine((l) => !l.some((s) => NEVER.includes(s)), "Revoked and NotSupported can never be accepted")
      .default(["UpToDate"]),
    /** When set, every advisory of an accepted non-UpToDate status must be listed here. */
    accepted_advisory_ids: z.array(z.string().regex(/^INTEL-(SA|DOC)-\d+$/)).optional(),
    /** Accept debug enclaves / TDs / SNP guests (their memory is readable by the host). */
    allow_debug: z.boolean().default(false),
    /** Refuse collateral older than this TCB evaluation (rollback protection). */
    min_tcb_evaluation_data_number: z.number().int().min(0).optional(),
    /** `tls-key`: REPORTDATA must bind the TLS key the evidence came with. */
    report_data: z.enum(["any", "tls-key"]).default("any"),
    sgx: z
      .object({
        mr_enclave: z.array(hexOf(32)).optional(),
        mr_signer: z.array(hexOf(32)).optional(),
        isv_prod_id: z.array(u16).optional(),
        min_isv_svn: u16.optional(),
      })
      .strict()
      .prefault({}),
    tdx: z
      .object({
        mr_td: z.array(hexOf(48)).optional(),
        rtmr0: z.array(hexOf(48)).optional(),
        rtmr1: z.array(hexOf(48)).optional(),
        rtmr2: z.array(hexOf(48)).optional(),
        rtmr3: z.array(hexOf(48)).optional(),
        mr_seam: z.array(hexOf(48)).optional(),
      })
      .strict()
      .prefault({}),
    sev_snp: z
      .object({
        measurement: z.array(hexOf(48)).optional(),
        host_data: z.array(hexOf(32)).optional(),
        vmpl: z.array(z.number().int().min(0).max(3)).optional(),
        allow_migrate_ma: z.boolean().default(false),
        min_tcb: z
          .object({ bootloader: spl, tee: spl, snp: spl, microcode: spl, fmc: spl })
          .partial()
          .strict()
          .optional(),
      })
      .strict()
      .prefault({}),
  })
  .strict();

export type EvidencePolicy = z.output<typeof policySchema>;

/** The default policy: UpToDate only, no debug, no measurement constraints. */
export const defaultPolicy = (): EvidencePolicy => policySchema.parse({});

export function parsePolicy(input: unknown, source = "policy"): EvidencePolicy {
  const r = policySchema.safeParse(input);
  if (!r.success) {
    const i = r.error.issues[0]!;
    throw new ConfigError(`${source}: ${i.path.join(".") || "(root)"}: ${i.message}`);
  }
  return r.data;
}

export function readPolicyFile(path: string): EvidencePolicy {
  let doc: unknown;
  try {
    doc = parseToml(readFileSync(path, "utf8"));
  } catch (e) {
    throw new ConfigError(`${path}: not a valid TOML policy (${(e as Error).message})`);
  }
  return parsePolicy(doc, path);
}

export interface AppraisalContext {
  /** The TLS key the evidence arrived with (its SubjectPublicKeyInfo). */
  tlsKey?: KeyObject | undefined;
}

export interface Appraisal {
  accepted: boolean;
  /** Verification failures first, then the policy checks that failed. */
  reasons: Failure[];
}

/** REPORTDATA binds a key when it is X‖Y of a P-256 key (Teaclave) or SHA-256(SPKI) then zeros. */
export function reportDataBindsKey(reportData: Buffer, key: KeyObject): boolean {
  const spki = key.export({ format: "der", type: "spki" });
  const digest = createHash("sha256").update(spki).digest();
  if (reportData.subarray(0, 32).equals(digest) && reportData.subarray(32).every((b) => b === 0)) return true;
  const d = key.asymmetricKeyDetails;
  if (key.asymmetricKeyType === "ec" && d?.namedCurve === "prime256v1") {
    const point = spki.subarray(spki.length - 65);
    return point[0] === 0x04 && point.subarray(1).equals(reportData);
  }
  return false;
}

function oneOf(
  list: string[] | number[] | undefined,
  value: string | number,
  check: string,
  label: string,
  out: Failure[],
) {
  if (list && !(list as (string | number)[]).includes(value))
    out.push({ check, message: `${label} ${value} is not in the policy's allow-list` });
}

/** Appraises a verification result. Rejections name every failed check. */
export function appraise(r: EvidenceResult, p: EvidencePolicy, ctx: AppraisalContext = {}): Appraisal {
  const out: Failure[] = [...r.failures];
  if (r.tee !== "sev-snp") {
    if (r.tcbStatus === null) {
      if (!out.some((f) => f.check === "collateral.missing"))
        out.push({ check: "policy.tcb_status", message: "no TCB status could be established" });
    } else if (!p.accepted_tcb_statuses.includes(r.tcbStatus) || NEVER.includes(r.tcbStatus)) {
      out.push({
        check: "policy.tcb_status",
        message: `TCB status ${r.tcbStatus} is not accepted (accepted: ${p.accepted_tcb_statuses.join(", ")})`,
      });
    } else if (r.tcbStatus !== "UpToDate" && p.accepted_advisory_ids) {
      const extra = r.advisoryIds.filter((a) => !p.accepted_advisory_ids!.includes(a));
      if (extra.length)
        out.push({ check: "policy.advisory_ids", message: `advisories not accepted: ${extra.join(", ")}` });
    }
    const edn = p.min_tcb_evaluation_data_number;
    const info = r.intel?.tcbInfo;
    if (edn !== undefined && info && info.evaluationDataNumber < edn)
      out.push({
        check: "policy.tcb_evaluation",
        message: `TCB evaluation ${info.evaluationDataNumber} is below ${edn}`,
      });
  }
  if (r.debug && !p.allow_debug)
    out.push({
      check: "policy.debug",
      message: `debug ${r.tee === "sev-snp" ? "guests" : r.tee === "tdx" ? "TDs" : "enclaves"} are refused`,
    });

  if (r.tee === "sgx") {
    const m = r.measurements as SgxMeasurements;
    oneOf(p.sgx.mr_enclave, m.mr_enclave, "policy.mr_enclave", "MRENCLAVE", out);
    oneOf(p.sgx.mr_signer, m.mr_signer, "policy.mr_signer", "MRSIGNER", out);
    oneOf(p.sgx.isv_prod_id, m.isv_prod_id, "policy.isv_prod_id", "ISVPRODID", out);
    if (p.sgx.min_isv_svn !== undefined && m.isv_svn < p.sgx.min_isv_svn)
      out.push({ check: "policy.isv_svn", message: `ISVSVN ${m.isv_svn} is below ${p.sgx.min_isv_svn}` });
  } else if (r.tee === "tdx") {
    const m = r.measurements as TdxMeasurements;
    oneOf(p.tdx.mr_td, m.mr_td, "policy.mr_td", "MRTD", out);
    for (const k of ["rtmr0", "rtmr1", "rtmr2", "rtmr3"] as const)
      oneOf(p.tdx[k], m[k], `policy.${k}`, k.toUpperCase(), out);
    oneOf(p.tdx.mr_seam, m.mr_seam, "policy.mr_seam", "MRSEAM", out);
  } else {
    const m = r.measurements as SnpMeasurements;
    const s = p.sev_snp;
    oneOf(s.measurement, m.measurement, "policy.measurement", "MEASUREMENT", out);
    oneOf(s.host_data, m.host_data, "policy.host_data", "HOST_DATA", out);
    oneOf(s.vmpl, m.vmpl, "policy.vmpl", "VMPL", out);
    if (!s.allow_migrate_ma && r.snp && (r.snp.report.policy & SnpPolicy.migrateMa) !== 0n)
      out.push({ check: "policy.migrate_ma", message: "guest policy allows a migration agent" });
    for (const [k, min] of Object.entries(s.min_tcb ?? {})) {
      const have = m.reported_tcb[k];
      if (min !== undefined && (have === undefined || have < min))
        out.push({ check: "policy.min_tcb", message: `REPORTED_TCB ${k} ${have ?? "-"} is below ${min}` });
    }
  }
  if (p.report_data === "tls-key") {
    const key = ctx.tlsKey ?? r.ratls?.certificate.x509.publicKey;
    if (!key) out.push({ check: "policy.report_data", message: "no TLS key to bind REPORTDATA to" });
    else if (!r.ratls && !reportDataBindsKey(r.reportData, key))
      out.push({ check: "policy.report_data", message: "REPORTDATA does not bind the TLS key" });
  }
  return { accepted: out.length === 0, reasons: out };
}
