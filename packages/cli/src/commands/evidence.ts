// `cloister evidence verify FILE`: verify SGX/TDX quotes, SEV-SNP reports and RA-TLS
// certificates offline, appraise them with a policy and say why they were rejected.
import { existsSync, readFileSync, statSync } from "node:fs";
import { ConfigError } from "@cloister/core";
import {
  appraise,
  decodeEvidenceText,
  defaultPolicy,
  EvidenceError,
  type EvidencePolicy,
  type EvidenceResult,
  type Failure,
  failureText,
  type IntelCollateral,
  readIntelCollateral,
  readPolicyFile,
  verifyEvidence,
} from "@cloister/evidence";
import type { Command } from "commander";
import { UsageError } from "../args.js";
import type { Cli } from "./client.js";

export interface EvidenceVerifyOptions {
  collateral?: string | undefined;
  vcek?: string | undefined;
  ca?: string | undefined;
  /** RFC 3339; default: now. */
  at?: string | undefined;
  policy?: string | undefined;
}

/** The `--json` object. */
export interface EvidenceView {
  file: string;
  format: string | null;
  tee: "sgx" | "tdx" | "sev-snp" | null;
  accepted: boolean;
  verified_at: string;
  tcb_status: string | null;
  advisory_ids: string[];
  debug: boolean | null;
  report_data: string | null;
  measurements: Record<string, unknown> | null;
  reasons: string[];
}

const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})$/;

function readInput(path: string, flag: string): Buffer {
  if (!existsSync(path)) throw new UsageError(`${flag}: no such file ${path}`);
  if (!statSync(path).isFile()) throw new UsageError(`${flag}: ${path} is not a file`);
  return readFileSync(path);
}

function parseAt(at: string | undefined): Date {
  if (at === undefined) return new Date();
  const d = new Date(at);
  if (!RFC3339.test(at) || Number.isNaN(d.getTime()))
    throw new UsageError(
      `--at: expected an RFC 3339 time such as 2025-07-01T00:00:00Z, got ${JSON.stringify(at)}`,
    );
  return d;
}

/** Verifies one evidence file; throws UsageError for a malformed command line or unreadable inputs. */
export function verifyEvidenceFile(file: string, o: EvidenceVerifyOptions): EvidenceView {
  const now = parseAt(o.at);
  const bytes = decodeEvidenceText(readInput(file, "FILE"));
  let policy: EvidencePolicy;
  try {
    if (o.policy) readInput(o.policy, "--policy");
    policy = o.policy ? readPolicyFile(o.policy) : defaultPolicy();
  } catch (e) {
    if (e instanceof ConfigError) throw new UsageError(`--policy: ${e.message}`);
    throw e;
  }
  let collateral: IntelCollateral | undefined;
  if (o.collateral) {
    if (!existsSync(o.collateral))
      throw new UsageError(`--collateral: no such file or directory ${o.collateral}`);
    try {
      collateral = readIntelCollateral(o.collateral);
    } catch (e) {
      if (e instanceof EvidenceError) throw new UsageError(`--collateral: ${e.message}`);
      throw e;
    }
  }
  const vcek = o.vcek ? readInput(o.vcek, "--vcek") : undefined;
  const ca = o.ca ? readInput(o.ca, "--ca") : undefined;

  const view: EvidenceView = {
    file,
    format: null,
    tee: null,
    accepted: false,
    verified_at: now.toISOString().replace(/\.000Z$/, "Z"),
    tcb_status: null,
    advisory_ids: [],
    debug: null,
    report_data: null,
    measurements: null,
    reasons: [],
  };
  let result: EvidenceResult;
  try {
    result = verifyEvidence(bytes, { now, collateral, vcek, amdCa: ca });
  } catch (e) {
    if (!(e instanceof EvidenceError)) throw e;
    view.reasons = [e.message];
    return view;
  }
  const a = appraise(result, policy);
  return {
    ...view,
    format: result.format,
    tee: result.tee,
    accepted: a.accepted,
    tcb_status: result.tcbStatus,
    advisory_ids: result.advisoryIds,
    debug: result.debug,
    report_data: result.reportData.toString("hex"),
    measurements: { ...result.measurements },
    reasons: a.reasons.map((f: Failure) => failureText(f)),
  };
}

export function formatEvidenceView(v: EvidenceView): string {
  const lines = [
    `${v.file}: ${v.accepted ? "ACCEPTED" : "REJECTED"}${v.tee ? ` (${v.tee} ${v.format})` : ""}`,
  ];
  lines.push(`  verified at   ${v.verified_at}`);
  if (v.tee) {
    lines.push(
      `  tcb status    ${v.tcb_status ?? "-"}${v.advisory_ids.length ? ` (${v.advisory_ids.join(", ")})` : ""}`,
    );
    lines.push(`  debug         ${v.debug}`);
    for (const [k, val] of Object.entries(v.measurements ?? {}))
      lines.push(`  ${k.padEnd(13)} ${typeof val === "object" ? JSON.stringify(val) : val}`);
    lines.push(`  report_data   ${v.report_data}`);
  }
  for (const r of v.reasons) lines.push(`  rejected: ${r}`);
  return lines.join("\n");
}

/** Registers `evidence verify`. Exit status: 0 accepted, 1 rejected, 2 usage error. */
export function evidenceCommands(program: Command, cli: Cli): void {
  const evidence = program.command("evidence").description("verify real TEE evidence offline");
  evidence
    .command("verify <file>")
    .description(
      "verify an SGX or TDX quote, an SEV-SNP report or an RA-TLS certificate (PEM or DER) and appraise it",
    )
    .option(
      "--collateral <file>",
      "Intel collateral: a JSON file in Intel's collateral shape or a directory of PCS files",
    )
    .option("--vcek <file>", "VCEK or VLEK certificate of an SEV-SNP report (PEM or DER)")
    .option("--ca <file>", "AMD ARK and ASK/ASVK certificates (PEM); default: the bundled ones")
    .option("--at <time>", "verification time, RFC 3339 (default: now)")
    .option("--policy <file>", "appraisal policy (TOML); default: UpToDate only, no debug")
    .option("--json", "print one JSON object")
    .exitOverride((e) => {
      process.exit(e.exitCode === 0 ? 0 : 2);
    })
    .action((file: string, o: EvidenceVerifyOptions & { json?: boolean }) => {
      let view: EvidenceView;
      try {
        view = verifyEvidenceFile(file, o);
      } catch (e) {
        if (e instanceof UsageError) {
          console.error(`cloister: ${e.message}`);
          process.exit(2);
        }
        throw e;
      }
      if (o.json || cli.json()) console.log(JSON.stringify(view, null, 2));
      else console.log(formatEvidenceView(view));
      process.exitCode = view.accepted ? 0 : 1;
    });
}
