// Intel collateral in the shape Intel's quote verification library takes it (the members of
// sgx_ql_qve_collateral_t as JSON): issuer chains as PEM, CRLs as hex DER (or PEM), TCB Info and
// QE Identity as the exact signed JSON text, signatures as hex r||s.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { fromHex, jsonMemberText } from "../bytes.js";
import { EvidenceError } from "../errors.js";
import { type Cert, type Crl, loadCerts, parseCrl } from "../x509.js";

/** The JSON shape (every member a string). */
export interface IntelCollateralJson {
  pck_crl_issuer_chain: string;
  root_ca_crl: string;
  pck_crl: string;
  tcb_info_issuer_chain: string;
  tcb_info: string;
  tcb_info_signature: string;
  qe_identity_issuer_chain: string;
  qe_identity: string;
  qe_identity_signature: string;
}

export const COLLATERAL_MEMBERS = [
  "pck_crl_issuer_chain",
  "root_ca_crl",
  "pck_crl",
  "tcb_info_issuer_chain",
  "tcb_info",
  "tcb_info_signature",
  "qe_identity_issuer_chain",
  "qe_identity",
  "qe_identity_signature",
] as const;

export interface IntelCollateral {
  pckCrlIssuerChain: Cert[];
  rootCaCrl: Crl;
  pckCrl: Crl;
  tcbInfoIssuerChain: Cert[];
  /** Exact signed text of the tcbInfo object. */
  tcbInfoText: string;
  tcbInfoSignature: Buffer;
  qeIdentityIssuerChain: Cert[];
  /** Exact signed text of the enclaveIdentity object. */
  qeIdentityText: string;
  qeIdentitySignature: Buffer;
}

const fmt = (m: string) => new EvidenceError("collateral.format", m);

/** A signed object as served by PCS (`{"tcbInfo":{…},"signature":"…"}`) or its bare inner text. */
function signedObject(
  text: string,
  key: string,
  signature: string | undefined,
): { text: string; sig: Buffer } {
  const inner = jsonMemberText(text, key);
  if (inner !== undefined) {
    const outer = JSON.parse(text) as Record<string, unknown>;
    return { text: inner, sig: fromHex(signature || outer["signature"], `${key} signature`, 64) };
  }
  return { text, sig: fromHex(signature, `${key} signature`, 64) };
}

/** C strings from Intel's library end in NUL; some captures keep it. */
const clean = (v: unknown): unknown => (typeof v === "string" ? v.replace(/\0+$/, "") : v);

/**
 * Parses the collateral JSON object. Every member is required, except a signature whose
 * object is given as the whole PCS response (`{"tcbInfo":…,"signature":…}`).
 */
export function parseIntelCollateral(input: Partial<Record<string, unknown>>): IntelCollateral {
  const j: Record<string, unknown> = {};
  for (const m of COLLATERAL_MEMBERS) j[m] = clean(input[m]);
  for (const [sig, obj] of [
    ["tcb_info_signature", "tcb_info"],
    ["qe_identity_signature", "qe_identity"],
  ] as const)
    if (j[sig] === undefined && typeof j[obj] === "string" && /"signature"\s*:/.test(j[obj] as string))
      j[sig] = "";
  for (const m of COLLATERAL_MEMBERS) if (typeof j[m] !== "string") throw fmt(`collateral lacks ${m}`);
  const s = j as unknown as IntelCollateralJson;
  const tcb = signedObject(s.tcb_info, "tcbInfo", s.tcb_info_signature);
  const qe = signedObject(s.qe_identity, "enclaveIdentity", s.qe_identity_signature);
  return {
    pckCrlIssuerChain: loadCerts(s.pck_crl_issuer_chain, "pck_crl_issuer_chain", "collateral"),
    rootCaCrl: parseCrl(s.root_ca_crl, "root_ca_crl"),
    pckCrl: parseCrl(s.pck_crl, "pck_crl"),
    tcbInfoIssuerChain: loadCerts(s.tcb_info_issuer_chain, "tcb_info_issuer_chain", "collateral"),
    tcbInfoText: tcb.text,
    tcbInfoSignature: tcb.sig,
    qeIdentityIssuerChain: loadCerts(s.qe_identity_issuer_chain, "qe_identity_issuer_chain", "collateral"),
    qeIdentityText: qe.text,
    qeIdentitySignature: qe.sig,
  };
}

export function parseIntelCollateralText(text: string): IntelCollateral {
  let j: unknown;
  try {
    j = JSON.parse(text);
  } catch {
    throw fmt("collateral file is not JSON");
  }
  if (typeof j !== "object" || j === null || Array.isArray(j)) throw fmt("collateral is not a JSON object");
  return parseIntelCollateral(j as Record<string, unknown>);
}

const MAX_FILE = 4 * 1024 * 1024;

/**
 * Collateral from a directory of the files PCS serves: a TCB Info body (`{"tcbInfo":…}`), a QE
 * Identity body (`{"enclaveIdentity":…}`), the Root CA CRL and the PCK CA CRL (DER or PEM), the
 * TCB Signing chain and the PCK CRL issuer chain (PEM). Files are recognised by content, not
 * name; a collateral JSON file in the directory is used as is.
 */
export function readIntelCollateralDir(dir: string): IntelCollateral {
  const parts: Partial<Record<keyof IntelCollateralJson, string>> = {};
  const crls: { text: string; crl: Crl }[] = [];
  const chains: { text: string; leaf: string }[] = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    const st = statSync(p);
    if (!st.isFile() || st.size > MAX_FILE) continue;
    const bytes = readFileSync(p);
    const text = bytes.toString("latin1");
    if (text.trimStart().startsWith("{")) {
      let j: Record<string, unknown>;
      try {
        j = JSON.parse(bytes.toString("utf8")) as Record<string, unknown>;
      } catch {
        continue;
      }
      if (typeof j["tcb_info"] === "string") return parseIntelCollateral(j);
      const utf8 = bytes.toString("utf8");
      const sig = typeof j["signature"] === "string" ? j["signature"] : undefined;
      if (j["tcbInfo"]) {
        parts.tcb_info = utf8;
        if (sig) parts.tcb_info_signature = sig;
      } else if (j["enclaveIdentity"]) {
        parts.qe_identity = utf8;
        if (sig) parts.qe_identity_signature = sig;
      }
    } else if (text.includes("-----BEGIN CERTIFICATE-----")) {
      const certs = loadCerts(text, name, "collateral");
      chains.push({ text, leaf: certs[0]?.subjectCn ?? "" });
    } else if (text.includes("-----BEGIN X509 CRL-----") || bytes[0] === 0x30) {
      const crl = parseCrl(text.includes("-----BEGIN") ? text : bytes, name);
      crls.push({ text: text.includes("-----BEGIN") ? text : bytes.toString("hex"), crl });
    }
  }
  for (const c of chains) {
    if (c.leaf === "Intel SGX TCB Signing") {
      parts.tcb_info_issuer_chain = c.text;
      parts.qe_identity_issuer_chain = c.text;
    } else if (/^Intel SGX PCK (Platform|Processor) CA$/.test(c.leaf)) parts.pck_crl_issuer_chain = c.text;
  }
  for (const c of crls) {
    if (c.crl.issuerCn === "Intel SGX Root CA") parts.root_ca_crl = c.text;
    else parts.pck_crl = c.text;
  }
  return parseIntelCollateral(parts);
}

/** Collateral from a JSON file or a directory. */
export function readIntelCollateral(path: string): IntelCollateral {
  if (statSync(path).isDirectory()) return readIntelCollateralDir(path);
  return parseIntelCollateralText(readFileSync(path, "utf8"));
}
