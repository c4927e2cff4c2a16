// Verification of an SEV-SNP report: VCEK/VLEK → ASK/ASVK → pinned ARK (RSA-PSS), the
// certificate's chip id and TCB against the report, and the report signature (ECDSA P-384).
import { readFileSync } from "node:fs";
import { der } from "@cloister/tee";
import { hex, isZero } from "../bytes.js";
import { EvidenceError, type Failure, Findings, must } from "../errors.js";
import { p1363 } from "../intel/verify.js";
import { type Cert, extension, loadCerts, verifyChain } from "../x509.js";
import {
  decodeTcb,
  parseSnpReport,
  productOf,
  type SnpProduct,
  type SnpReport,
  type SnpTcb,
} from "./report.js";

/** SHA-256 of AMD's root keys' certificates (ARK-<product>), the only roots accepted. */
export const AMD_ARK_SHA256: Record<SnpProduct, string> = {
  Milan: "69d063b45344d26a2e94e1f4210de49ef555308287d4c174445c95639a540bcd",
  Genoa: "4c6598d19c18719c5dfd4a7d335f674e5bfe1d8f800cea2cf270c10d103db2f1",
  Turin: "1f084161a44bb6d93778a904877d4819cafa5d05ef4193b2ded9dd9c73dd3f6a",
};

const TRUST_DIR = new URL("../../../trust/amd/", import.meta.url);

/** AMD's ARK, ASK and ASVK for a product, as shipped with this package. */
export function bundledAmdCertificates(product: SnpProduct): Cert[] {
  return loadCerts(
    readFileSync(new URL(`${product.toLowerCase()}_ask_ark_asvk.pem`, TRUST_DIR), "utf8"),
    "AMD CA",
  );
}

const VCEK_OID = "1.3.6.1.4.1.3704.1.";
export interface AmdKeyExtensions {
  productName?: string;
  bootloader?: number;
  tee?: number;
  snp?: number;
  microcode?: number;
  fmc?: number;
  hwId?: Buffer;
  cspId?: string;
}

export function amdKeyExtensions(c: Cert): AmdKeyExtensions {
  const out: AmdKeyExtensions = {};
  const intOf = (oid: string) => {
    const v = extension(c, VCEK_OID + oid);
    if (!v) return undefined;
    const n = der.parseOne(v);
    if (n.tag !== der.Tag.INTEGER)
      throw new EvidenceError("snp.certificate", `extension ${oid} is not an INTEGER`);
    return der.decodeSmallInteger(n.content);
  };
  const strOf = (oid: string) => {
    const v = extension(c, VCEK_OID + oid);
    return v ? der.parseOne(v).content.toString("latin1") : undefined;
  };
  try {
    const set = <K extends keyof AmdKeyExtensions>(k: K, v: AmdKeyExtensions[K] | undefined) => {
      if (v !== undefined) out[k] = v;
    };
    set("productName", strOf("2"));
    set("bootloader", intOf("3.1"));
    set("tee", intOf("3.2"));
    set("snp", intOf("3.3"));
    set("microcode", intOf("3.8"));
    set("fmc", intOf("3.9"));
    set("cspId", strOf("5"));
    const hw = extension(c, `${VCEK_OID}4`);
    if (hw) out.hwId = Buffer.from(hw);
  } catch (e) {
    if (e instanceof EvidenceError) throw e;
    throw new EvidenceError("snp.certificate", `VCEK/VLEK extensions are malformed: ${(e as Error).message}`);
  }
  return out;
}

export interface SnpVerifyOptions {
  now: Date;
  /** The VCEK or VLEK certificate (DER or PEM); without it nothing is verified, which is reported. */
  signingCert?: Buffer | string | undefined;
  /** ARK + ASK/ASVK (PEM); default: the bundled certificates of the report's product. */
  caCerts?: Buffer | string | undefined;
  /** Product for v2 reports when the certificate does not name it. */
  product?: SnpProduct | undefined;
}

export interface SnpVerification {
  report: SnpReport;
  product?: SnpProduct;
  signingKeyKind: "vcek" | "vlek";
  reportedTcb?: SnpTcb;
  certificate?: AmdKeyExtensions;
  failures: Failure[];
}

const PRODUCTS: SnpProduct[] = ["Milan", "Genoa", "Turin"];

function productFromName(name: string | undefined): SnpProduct | undefined {
  return PRODUCTS.find((p) => name?.startsWith(p));
}

export function verifySnpReport(bytes: Buffer, o: SnpVerifyOptions): SnpVerification {
  const report = parseSnpReport(bytes);
  const f = new Findings();
  must(
    report.signingKey === 0 || report.signingKey === 1,
    "snp.signing_key",
    `KEY_INFO signing key ${report.signingKey} is not VCEK or VLEK`,
  );
  const kind = report.signingKey === 0 ? "vcek" : "vlek";
  const v: SnpVerification = { report, signingKeyKind: kind, failures: f.failures };
  if (!o.signingCert) {
    const product = productOf(report) ?? o.product;
    if (product) {
      v.product = product;
      v.reportedTcb = decodeTcb(report.reportedTcbRaw, product);
    }
    f.fail(
      "snp.certificate",
      `no ${kind.toUpperCase()} certificate given: the report's signature is unchecked`,
    );
    return v;
  }
  const signingCert = o.signingCert;
  f.capture(() => {
    const given = loadCerts(signingCert, "VCEK/VLEK certificate", "snp.certificate");
    // A bundle (VCEK with ASK and ARK) is accepted: the leaf is the VCEK/VLEK in it.
    const leaf = given.find((c) => c.subjectCn === "SEV-VCEK" || c.subjectCn === "SEV-VLEK") ?? given[0];
    must(leaf, "snp.certificate", "no VCEK/VLEK certificate given");
    const ext = amdKeyExtensions(leaf);
    v.certificate = ext;
    const product = productOf(report) ?? productFromName(ext.productName) ?? o.product;
    must(product, "snp.product", "cannot tell the product (v2 report and no productName in the certificate)");
    v.product = product;
    const named = productFromName(ext.productName);
    must(
      !named || named === product,
      "snp.product",
      `certificate is for ${ext.productName}, the report for ${product}`,
    );
    const tcb = decodeTcb(report.reportedTcbRaw, product);
    v.reportedTcb = tcb;

    const cas = o.caCerts
      ? loadCerts(o.caCerts, "AMD CA certificates", "snp.chain")
      : [...given.filter((c) => c !== leaf), ...bundledAmdCertificates(product)];
    const ark = cas.find((c) => c.subjectCn === `ARK-${product}`);
    const mid = cas.find((c) => c.subjectCn === (kind === "vcek" ? `SEV-${product}` : `SEV-VLEK-${product}`));
    must(
      ark && mid,
      "snp.chain",
      `no ARK-${product} and ${kind === "vcek" ? "ASK" : "ASVK"} among the CA certificates`,
    );
    must(
      leaf.subjectCn === (kind === "vcek" ? "SEV-VCEK" : "SEV-VLEK"),
      "snp.certificate",
      `report is signed by the ${kind.toUpperCase()}, the certificate is '${leaf.subjectCn}'`,
    );
    verifyChain([leaf, mid, ark], {
      now: o.now,
      check: "snp.chain",
      findings: f,
      isTrustedRoot: (r) => r.sha256 === AMD_ARK_SHA256[product],
      rootName: `ARK-${product}`,
    });

    if (kind === "vcek") {
      must(ext.hwId, "snp.chip_id", "VCEK has no hwID");
      const want = product === "Turin" ? report.chipId.subarray(0, 8) : report.chipId;
      must(
        ext.hwId.equals(want) && (product !== "Turin" || isZero(report.chipId.subarray(8))),
        "snp.chip_id",
        `CHIP_ID ${hex(report.chipId)} is not the VCEK's hwID ${hex(ext.hwId)}`,
      );
    }
    const pairs: [keyof SnpTcb & keyof AmdKeyExtensions, string][] = [
      ["bootloader", "bootloader"],
      ["tee", "TEE"],
      ["snp", "SNP"],
      ["microcode", "microcode"],
    ];
    if (product === "Turin") pairs.push(["fmc", "FMC"]);
    for (const [k, label] of pairs) {
      must(ext[k] !== undefined, "snp.reported_tcb", `certificate lacks the ${label} SPL`);
      must(
        ext[k] === tcb[k],
        "snp.reported_tcb",
        `REPORTED_TCB ${label} SPL ${tcb[k]} is not the certificate's ${ext[k]}`,
      );
    }
    must(
      p1363("sha384", report.signed, leaf.x509.publicKey, report.signatureP1363),
      "snp.signature",
      `report signature does not verify with the ${kind.toUpperCase()}`,
    );
  });
  return v;
}
