// Verification of an Intel SGX or TDX quote against the pinned Intel SGX Root CA and offline
// collateral. Time is always an input. Failures that leave the rest checkable (expired
// windows, revocation, collateral mismatches) are collected so one run names every problem.
import { createHash, createPublicKey, type KeyObject, verify } from "node:crypto";
import { hex, iso, isZero } from "../bytes.js";
import { EvidenceError, type Failure, Findings, must } from "../errors.js";
import { type Cert, checkCrl, INTEL_SGX_ROOT_CA, isIntelRoot, loadCerts, verifyChain } from "../x509.js";
import type { IntelCollateral } from "./collateral.js";
import { type PckExtension, parsePckExtension } from "./pck.js";
import { type IntelQuote, parseIntelQuote } from "./quote.js";
import {
  type ModuleIdentity,
  maskedEqual,
  mergeOutOfDate,
  parseQeIdentity,
  parseTcbInfo,
  type QeIdentity,
  qeLevel,
  sgxPlatformLevel,
  type TcbInfo,
  type TcbStatus,
  tdxPlatformLevels,
} from "./tcb.js";

export interface IntelVerifyOptions {
  now: Date;
  /** Without collateral only signatures, the PCK chain and the QE binding are checked. */
  collateral?: IntelCollateral | undefined;
  /** Rollback protection: refuse TCB Info / QE Identity older than this evaluation number. */
  minTcbEvaluationDataNumber?: number | undefined;
}

export interface IntelVerification {
  quote: IntelQuote;
  pck?: Cert;
  pckExtension?: PckExtension;
  failures: Failure[];
  /** Final TCB status; undefined when no collateral was checked. */
  tcbStatus?: TcbStatus;
  advisoryIds: string[];
  qeTcbStatus?: TcbStatus;
  platformTcbStatus?: TcbStatus;
  tdxModuleStatus?: TcbStatus;
  tdxModuleId?: string;
  tcbInfo?: TcbInfo;
  qeIdentity?: QeIdentity;
}

export function ecP256Key(xy: Buffer): KeyObject {
  try {
    return createPublicKey({
      key: {
        kty: "EC",
        crv: "P-256",
        x: xy.subarray(0, 32).toString("base64url"),
        y: xy.subarray(32, 64).toString("base64url"),
      },
      format: "jwk",
    });
  } catch {
    throw new EvidenceError("quote.attestation_key", "attestation key is not a P-256 point");
  }
}

export function p1363(hash: string, data: Buffer, key: KeyObject, sig: Buffer): boolean {
  try {
    return verify(hash, data, { key, dsaEncoding: "ieee-p1363" }, sig);
  } catch {
    return false;
  }
}

const PCK_CA = /^Intel SGX PCK (Platform|Processor) CA$/;

function pckChain(q: IntelQuote, now: Date, f: Findings): Cert[] {
  must(
    q.certificationDataType === 5,
    "quote.certification_data",
    `certification data type ${q.certificationDataType} needs the PCK certificate from Intel PCS; only type 5 (PCK chain) verifies offline`,
  );
  const chain = loadCerts(q.certificationData.toString("latin1"), "PCK chain", "pck_chain");
  // Some quoting setups leave the root out; the pinned root is the only acceptable one anyway.
  if (chain.length === 2) chain.push(INTEL_SGX_ROOT_CA);
  must(chain.length === 3, "pck_chain", `PCK chain has ${chain.length} certificates, expected 3`);
  must(
    chain[0]!.subjectCn === "Intel SGX PCK Certificate",
    "pck_chain",
    "leaf is not an Intel SGX PCK Certificate",
  );
  must(PCK_CA.test(chain[1]!.subjectCn), "pck_chain", "intermediate is not an Intel SGX PCK CA");
  verifyChain(chain, {
    now,
    check: "pck_chain",
    findings: f,
    isTrustedRoot: isIntelRoot,
    rootName: "Intel SGX Root CA",
  });
  return chain;
}

function verifySignatures(q: IntelQuote, pck: Cert): void {
  must(
    p1363("sha256", q.qeReport.raw, pck.x509.publicKey, q.qeReportSignature),
    "qe_report.signature",
    "QE report signature does not verify with the PCK key",
  );
  const expected = createHash("sha256").update(q.attestationKey).update(q.qeAuthData).digest();
  must(
    q.qeReport.reportData.subarray(0, 32).equals(expected) && isZero(q.qeReport.reportData.subarray(32)),
    "qe_report.binding",
    "QE report data does not bind the attestation key and QE authentication data",
  );
  must(
    p1363("sha256", q.signedRegion, ecP256Key(q.attestationKey), q.signature),
    "quote.signature",
    "quote signature does not verify with the attestation key",
  );
}

function signingChain(certs: Cert[], what: string, now: Date, f: Findings): Cert {
  must(
    certs[0]?.subjectCn === "Intel SGX TCB Signing",
    `${what}.chain`,
    "signer is not Intel SGX TCB Signing",
  );
  verifyChain(certs, {
    now,
    check: `${what}.chain`,
    findings: f,
    isTrustedRoot: isIntelRoot,
    rootName: "Intel SGX Root CA",
  });
  return certs[0]!;
}

function window(what: string, label: string, issue: Date, next: Date, now: Date, f: Findings) {
  if (now < issue || now > next)
    f.fail(`${what}.expired`, `${label} is valid ${iso(issue)} .. ${iso(next)}, not at ${iso(now)}`);
}

const union = (...lists: string[][]): string[] => [...new Set(lists.flat())];

function checkRevocation(c: IntelCollateral, chain: Cert[], now: Date, f: Findings): void {
  const [pck, ca, root] = chain as [Cert, Cert, Cert];
  checkCrl(c.rootCaCrl, root, now, "root_ca_crl", f);
  if (c.rootCaCrl.revoked.has(ca.serial))
    f.fail("revoked", `'${ca.subjectCn}' (serial ${ca.serial}) is revoked`);
  const signer = c.tcbInfoIssuerChain[0];
  if (signer && c.rootCaCrl.revoked.has(signer.serial))
    f.fail("revoked", `'${signer.subjectCn}' (serial ${signer.serial}) is revoked`);
  const crlChain = c.pckCrlIssuerChain;
  must(crlChain.length >= 2, "pck_crl", "PCK CRL issuer chain is incomplete");
  verifyChain(crlChain, {
    now,
    check: "pck_crl.chain",
    findings: f,
    isTrustedRoot: isIntelRoot,
    rootName: "Intel SGX Root CA",
  });
  must(
    crlChain[0]!.parsed.subject.equals(ca.parsed.subject) &&
      crlChain[0]!.x509.publicKey.equals(ca.x509.publicKey),
    "pck_crl",
    `PCK CRL is issued by '${crlChain[0]!.subjectCn}', the PCK by '${ca.subjectCn}'`,
  );
  checkCrl(c.pckCrl, ca, now, "pck_crl", f);
  if (c.pckCrl.revoked.has(pck.serial))
    f.fail("revoked", `PCK certificate (serial ${pck.serial}) is revoked`);
}

function matchQeIdentity(qe: QeIdentity, q: IntelQuote): void {
  const r = q.qeReport;
  const misc = Buffer.alloc(4);
  misc.writeUInt32BE(r.miscSelect);
  must(
    maskedEqual(misc, qe.miscSelectMask, qe.miscSelect),
    "qe_identity.mismatch",
    "QE MISCSELECT does not match",
  );
  must(
    maskedEqual(r.attributes, qe.attributesMask, qe.attributes),
    "qe_identity.mismatch",
    "QE ATTRIBUTES do not match",
  );
  must(
    r.mrSigner.equals(qe.mrSigner),
    "qe_identity.mismatch",
    `QE MRSIGNER ${hex(r.mrSigner)} is not Intel's`,
  );
  must(
    r.isvProdId === qe.isvProdId,
    "qe_identity.mismatch",
    `QE ISVPRODID ${r.isvProdId} is not ${qe.isvProdId}`,
  );
}

function moduleIdentity(info: TcbInfo, q: IntelQuote): { id: string; identity?: ModuleIdentity } {
  const td = q.td!;
  const minor = td.teeTcbSvn[1]!;
  must(isZero(td.seamAttributes), "tdx_module", "SEAM_ATTRIBUTES is not zero");
  if (minor === 0) {
    const m = info.tdxModule;
    must(m, "tdx_module", "TCB Info has no tdxModule");
    must(td.mrSignerSeam.equals(m.mrSigner), "tdx_module", "MRSIGNERSEAM is not the TDX module signer");
    must(
      maskedEqual(td.seamAttributes, m.attributesMask, m.attributes),
      "tdx_module",
      "SEAM attributes do not match",
    );
    return { id: "tdxModule" };
  }
  const id = `TDX_${minor.toString(16).toUpperCase().padStart(2, "0")}`;
  const identity = info.moduleIdentities.find((m) => m.id.toUpperCase() === id);
  must(identity, "tdx_module", `TCB Info has no module identity ${id}`);
  must(td.mrSignerSeam.equals(identity.mrSigner), "tdx_module", "MRSIGNERSEAM is not the TDX module signer");
  must(
    maskedEqual(td.seamAttributes, identity.attributesMask, identity.attributes),
    "tdx_module",
    "SEAM attributes do not match",
  );
  return { id, identity };
}

function appraise(
  v: IntelVerification,
  c: IntelCollateral,
  o: IntelVerifyOptions,
  f: Findings,
  chain: Cert[],
) {
  const q = v.quote;
  const now = o.now;
  f.capture(() => checkRevocation(c, chain, now, f));

  const tcbSigner = signingChain(c.tcbInfoIssuerChain, "tcb_info", now, f);
  must(
    p1363("sha256", Buffer.from(c.tcbInfoText, "utf8"), tcbSigner.x509.publicKey, c.tcbInfoSignature),
    "tcb_info.signature",
    "TCB Info signature does not verify over its exact bytes",
  );
  const info = parseTcbInfo(c.tcbInfoText);
  v.tcbInfo = info;
  window("tcb_info", "TCB Info", info.issueDate, info.nextUpdate, now, f);

  const qeSigner = signingChain(c.qeIdentityIssuerChain, "qe_identity", now, f);
  must(
    p1363("sha256", Buffer.from(c.qeIdentityText, "utf8"), qeSigner.x509.publicKey, c.qeIdentitySignature),
    "qe_identity.signature",
    "QE Identity signature does not verify over its exact bytes",
  );
  const qe = parseQeIdentity(c.qeIdentityText);
  v.qeIdentity = qe;
  window("qe_identity", "QE Identity", qe.issueDate, qe.nextUpdate, now, f);

  const min = o.minTcbEvaluationDataNumber;
  if (min !== undefined && (info.evaluationDataNumber < min || qe.evaluationDataNumber < min))
    f.fail("collateral.rollback", `collateral tcbEvaluationDataNumber is below ${min}`);

  const pck = v.pckExtension!;
  const expectedId = q.tee === "tdx" ? "TDX" : "SGX";
  must(info.id === expectedId, "tcb_info.mismatch", `TCB Info is for ${info.id}, the quote is ${expectedId}`);
  must(q.tee === "sgx" || info.version === 3, "tcb_info.mismatch", "TDX needs TCB Info version 3");
  must(
    info.fmspc === hex(pck.fmspc),
    "tcb_info.mismatch",
    `TCB Info FMSPC ${info.fmspc} is not the PCK's ${hex(pck.fmspc)}`,
  );
  must(
    info.pceId === hex(pck.pceId),
    "tcb_info.mismatch",
    `TCB Info PCE-ID ${info.pceId} is not the PCK's ${hex(pck.pceId)}`,
  );
  must(info.tcbType === 0, "tcb_info.mismatch", `unsupported tcbType ${info.tcbType}`);
  must(
    qe.id === (q.tee === "tdx" ? "TD_QE" : "QE"),
    "qe_identity.mismatch",
    `QE Identity ${qe.id} does not fit a ${expectedId} quote`,
  );
  matchQeIdentity(qe, q);

  const qeL = qeLevel(qe, q.qeReport.isvSvn);
  const qeStatus: TcbStatus = qeL?.status ?? "NotSupported";
  v.qeTcbStatus = qeStatus;

  let platform: TcbStatus;
  let advisories: string[] = [];
  if (q.tee === "sgx") {
    const level = sgxPlatformLevel(info, pck.compSvn, pck.pceSvn);
    platform = level?.status ?? "NotSupported";
    advisories = level?.advisoryIds ?? [];
  } else {
    const td = q.td!;
    const { id, identity } = moduleIdentity(info, q);
    v.tdxModuleId = id;
    const levels = tdxPlatformLevels(info, pck.compSvn, pck.pceSvn, td.teeTcbSvn);
    platform = levels.tdxLevel?.status ?? "NotSupported";
    advisories = levels.tdxLevel?.advisoryIds ?? [];
    let moduleStatus: TcbStatus | undefined;
    if (identity) {
      const ml = identity.levels.find((l) => l.isvSvn <= td.teeTcbSvn[0]!);
      must(ml, "tdx_module", `TDX module SVN ${td.teeTcbSvn[0]} is below every level of ${id}`);
      moduleStatus = ml.status;
      advisories = union(advisories, ml.advisoryIds);
      v.tdxModuleStatus = moduleStatus;
      if (platform !== "NotSupported") platform = mergeOutOfDate(platform, moduleStatus);
    }
    if (
      q.bodyType === 3 &&
      td.teeTcbSvn2 &&
      moduleStatus === "OutOfDate" &&
      qeStatus !== "OutOfDate" &&
      qeStatus !== "Revoked" &&
      levels.sgxLevel &&
      ["UpToDate", "SWHardeningNeeded", "ConfigurationNeeded", "ConfigurationAndSWHardeningNeeded"].includes(
        levels.sgxLevel.status,
      ) &&
      (platform === "OutOfDate" || platform === "OutOfDateConfigurationNeeded")
    ) {
      platform = relaunchStatus(info, td.teeTcbSvn2, platform);
    }
  }
  v.platformTcbStatus = platform;
  let final: TcbStatus = platform;
  if (qeStatus === "NotSupported") final = "NotSupported";
  else if (platform !== "NotSupported") final = mergeOutOfDate(platform, qeStatus);
  if (qeL && (qeStatus === "OutOfDate" || qeStatus === "Revoked"))
    advisories = union(advisories, qeL.advisoryIds);
  v.tcbStatus = final;
  v.advisoryIds = advisories;
}

/** TD 1.5: would the TD be current after a relaunch (TEE_TCB_SVN2 against the newest levels)? */
export function relaunchStatus(info: TcbInfo, svn2: Buffer, platform: TcbStatus): TcbStatus {
  const newest = info.levels[0];
  if (!newest?.tdx) return platform;
  const from = svn2[1]! > 0 ? 2 : 0;
  for (let i = from; i < 16; i++) if (svn2[i]! < newest.tdx[i]!) return platform;
  if (svn2[1]! > 0) {
    const id = `TDX_${svn2[1]!.toString(16).toUpperCase().padStart(2, "0")}`;
    const m = info.moduleIdentities.find((x) => x.id.toUpperCase() === id);
    const top = m?.levels[0];
    if (!top || svn2[0]! < top.isvSvn) return platform;
  }
  return platform === "OutOfDateConfigurationNeeded"
    ? "TDRelaunchAdvisedConfigurationNeeded"
    : "TDRelaunchAdvised";
}

/**
 * Verifies an Intel quote. Throws EvidenceError only when the bytes are not a quote at all;
 * every other failure is in `failures` (empty = the quote and its collateral verified).
 */
export function verifyIntelQuote(bytes: Buffer, o: IntelVerifyOptions): IntelVerification {
  const quote = parseIntelQuote(bytes);
  const f = new Findings();
  const v: IntelVerification = { quote, failures: f.failures, advisoryIds: [] };
  let chain: Cert[] | undefined;
  f.capture(() => {
    chain = pckChain(quote, o.now, f);
    v.pck = chain[0]!;
    v.pckExtension = parsePckExtension(chain[0]!);
  });
  if (!chain) return v;
  f.capture(() => verifySignatures(quote, chain![0]!));
  if (!o.collateral) {
    f.fail("collateral.missing", "no collateral given: TCB status, revocation and QE identity are unchecked");
    return v;
  }
  f.capture(() => appraise(v, o.collateral!, o, f, chain!));
  return v;
}

export { INTEL_SGX_ROOT_CA };
