// Certificates and CRLs: node:crypto checks signatures (ECDSA, RSA-PSS); the strict DER reader
// of @cloister/tee reads what X509Certificate does not expose (extensions, names, CRLs).
import { createHash, type KeyObject, verify, X509Certificate } from "node:crypto";
import {
  der,
  nameAttribute,
  OID,
  type ParsedCertificate,
  parseCertificate,
  pemDecodeAll,
  pemEncode,
} from "@cloister/tee";
import { iso } from "./bytes.js";
import { EvidenceError, type Findings } from "./errors.js";

export interface Cert {
  der: Buffer;
  x509: X509Certificate;
  parsed: ParsedCertificate;
  subjectCn: string;
  issuerCn: string;
  /** Serial number magnitude, lowercase hex without leading zero bytes. */
  serial: string;
  notBefore: Date;
  notAfter: Date;
  sha256: string;
}

const stripZeros = (b: Buffer): string => {
  let i = 0;
  while (i < b.length - 1 && b[i] === 0) i++;
  return b.subarray(i).toString("hex");
};

export function loadCert(bytes: Buffer, what: string, check = "certificate"): Cert {
  let parsed: ParsedCertificate;
  let x509: X509Certificate;
  try {
    parsed = parseCertificate(bytes, { lenient: true });
    // Always via PEM: given DER, OpenSSL first scans the bytes for PEM text and would parse a
    // certificate embedded in an extension (an RA-TLS quote carries the PCK chain as PEM).
    x509 = new X509Certificate(pemEncode("CERTIFICATE", bytes));
    if (!x509.raw.equals(bytes)) throw new Error("certificate bytes are ambiguous");
  } catch (e) {
    throw new EvidenceError(
      `${check}.format`,
      `${what} is not a valid X.509 certificate (${(e as Error).message})`,
    );
  }
  return {
    der: Buffer.from(bytes),
    x509,
    parsed,
    subjectCn: nameAttribute(parsed.subject, OID.commonName) ?? "",
    issuerCn: nameAttribute(parsed.issuer, OID.commonName) ?? "",
    serial: stripZeros(parsed.serial),
    notBefore: parsed.notBefore,
    notAfter: parsed.notAfter,
    sha256: createHash("sha256").update(bytes).digest("hex"),
  };
}

/** Certificates from PEM text (any number of blocks) or a single DER certificate. */
export function loadCerts(input: Buffer | string, what: string, check = "certificate"): Cert[] {
  const text = typeof input === "string" ? input : input.toString("latin1");
  if (text.includes("-----BEGIN CERTIFICATE-----"))
    return pemDecodeAll(text, "CERTIFICATE").map((d, i) => loadCert(d, `${what}[${i}]`, check));
  return [loadCert(Buffer.from(input as Buffer), what, check)];
}

export const extension = (c: Cert, oid: string): Buffer | undefined =>
  c.parsed.extensions.find((e) => e.oid === oid)?.value;

export function checkValidity(c: Cert, now: Date, check: string, f: Findings): void {
  if (now < c.notBefore || now > c.notAfter)
    f.fail(
      `${check}.expired`,
      `'${c.subjectCn}' is valid ${iso(c.notBefore)} .. ${iso(c.notAfter)}, not at ${iso(now)}`,
    );
}

const signedBy = (child: Cert, issuer: Cert): boolean => {
  if (!child.parsed.issuer.equals(issuer.parsed.subject)) return false;
  try {
    return child.x509.verify(issuer.x509.publicKey);
  } catch {
    return false;
  }
};

/**
 * Verifies a chain given leaf first: each certificate signed by the next, the last one
 * self-signed and accepted by `isTrustedRoot`, every certificate valid at `now` (expiry is
 * recorded in `f`, other failures throw).
 */
export function verifyChain(
  chain: Cert[],
  o: {
    now: Date;
    check: string;
    findings: Findings;
    isTrustedRoot: (root: Cert) => boolean;
    rootName: string;
  },
): void {
  if (chain.length < 2) throw new EvidenceError(o.check, "certificate chain is incomplete");
  for (let i = 0; i + 1 < chain.length; i++) {
    const c = chain[i]!;
    const issuer = chain[i + 1]!;
    if (!signedBy(c, issuer))
      throw new EvidenceError(o.check, `'${c.subjectCn}' is not signed by '${issuer.subjectCn}'`);
    // Only a CA may sign: a leaf of the same hierarchy must not vouch for another certificate.
    if (!issuer.x509.ca) throw new EvidenceError(o.check, `'${issuer.subjectCn}' is not a CA certificate`);
  }
  const root = chain[chain.length - 1]!;
  if (!signedBy(root, root)) throw new EvidenceError(o.check, `'${root.subjectCn}' is not self-signed`);
  if (!o.isTrustedRoot(root))
    throw new EvidenceError(o.check, `chain root '${root.subjectCn}' is not the pinned ${o.rootName}`);
  for (const c of chain) checkValidity(c, o.now, o.check, o.findings);
}

export const sameKey = (a: KeyObject, b: KeyObject): boolean =>
  a.export({ format: "der", type: "spki" }).equals(b.export({ format: "der", type: "spki" }));

/** Intel SGX Root CA (self-signed, ECDSA P-256), the anchor of every Intel quote and collateral. */
export const INTEL_SGX_ROOT_CA = loadCert(
  Buffer.from(
    "MIICjzCCAjSgAwIBAgIUImUM1lqdNInzg7SVUr9QGzknBqwwCgYIKoZIzj0EAwIwaDEaMBgGA1UEAwwRSW50ZWwgU0dYIFJvb3QgQ0ExGjAYBgNVBAoMEUludGVsIENvcnBvcmF0aW9uMRQwEgYDVQQHDAtTYW50YSBDbGFyYTELMAkGA1UECAwCQ0ExCzAJBgNVBAYTAlVTMB4XDTE4MDUyMTEwNDUxMFoXDTQ5MTIzMTIzNTk1OVowaDEaMBgGA1UEAwwRSW50ZWwgU0dYIFJvb3QgQ0ExGjAYBgNVBAoMEUludGVsIENvcnBvcmF0aW9uMRQwEgYDVQQHDAtTYW50YSBDbGFyYTELMAkGA1UECAwCQ0ExCzAJBgNVBAYTAlVTMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEC6nEwMDIYZOj/iPWsCzaEKi71OiOSLRFhWGjbnBVJfVnkY4u3IjkDYYL0MxO4mqsyYjlBalTVYxFP2sJBK5zlKOBuzCBuDAfBgNVHSMEGDAWgBQiZQzWWp00ifODtJVSv1AbOScGrDBSBgNVHR8ESzBJMEegRaBDhkFodHRwczovL2NlcnRpZmljYXRlcy50cnVzdGVkc2VydmljZXMuaW50ZWwuY29tL0ludGVsU0dYUm9vdENBLmRlcjAdBgNVHQ4EFgQUImUM1lqdNInzg7SVUr9QGzknBqwwDgYDVR0PAQH/BAQDAgEGMBIGA1UdEwEB/wQIMAYBAf8CAQEwCgYIKoZIzj0EAwIDSQAwRgIhAOW/5QkR+S9CiSDcNoowLuPRLsWGf/Yi7GSX94BgwTwgAiEA4J0lrHoMs+Xo5o/sX6O9QWxHRAvZUGOdRQ7cvqRXaqI=",
    "base64",
  ),
  "Intel SGX Root CA",
);

/** Byte-equal or key-equal to the pinned Intel root (Intel re-issues the root with one key). */
export const isIntelRoot = (c: Cert): boolean =>
  c.der.equals(INTEL_SGX_ROOT_CA.der) ||
  (c.subjectCn === INTEL_SGX_ROOT_CA.subjectCn &&
    sameKey(c.x509.publicKey, INTEL_SGX_ROOT_CA.x509.publicKey));

// ---------------------------------------------------------------------------------------------
// CRLs (RFC 5280 §5)

export interface Crl {
  tbs: Buffer;
  signatureAlgorithmOid: string;
  signature: Buffer;
  issuer: Buffer;
  issuerCn: string;
  thisUpdate: Date;
  nextUpdate: Date | undefined;
  /** Revoked serial numbers, hex as in Cert.serial. */
  revoked: Set<string>;
}

const { Tag, children, parseOne, decodeOid, decodeTime, decodeBitStringBytes } = der;

/** CRL from DER, PEM (X509 CRL) or hex text. */
export function parseCrl(input: Buffer | string, what: string): Crl {
  let bytes: Buffer;
  const text = typeof input === "string" ? input : undefined;
  if (text !== undefined) {
    const pem = pemDecodeAll(text, "X509 CRL")[0];
    const t = text.replace(/\0+$/, "").trim();
    if (pem) bytes = pem;
    else if (/^(?:[0-9a-fA-F]{2})+$/.test(t)) {
      bytes = Buffer.from(t, "hex");
      // Some captures hex-encode the PEM text rather than the DER.
      const inner = pemDecodeAll(bytes.toString("latin1"), "X509 CRL")[0];
      if (inner) bytes = inner;
    } else if (/^[A-Za-z0-9+/]+={0,2}$/.test(t)) bytes = Buffer.from(t, "base64");
    else throw new EvidenceError("crl.format", `${what} is neither PEM, hex nor base64 DER`);
  } else bytes = input as Buffer;
  try {
    const top = children(parseOne(bytes));
    const tbsNode = top.expect(Tag.SEQUENCE, "tbsCertList");
    const alg = children(top.expect(Tag.SEQUENCE, "signatureAlgorithm"));
    const sig = decodeBitStringBytes(top.expect(Tag.BIT_STRING, "signature").content);
    top.end("CertificateList");
    const t = children(tbsNode);
    t.optional(Tag.INTEGER);
    t.expect(Tag.SEQUENCE, "signature");
    const issuer = t.expect(Tag.SEQUENCE, "issuer").raw;
    const thisUpdate = decodeTime(t.any());
    let nextUpdate: Date | undefined;
    const pt = t.peekTag();
    if (pt === Tag.UTC_TIME || pt === Tag.GENERALIZED_TIME) nextUpdate = decodeTime(t.any());
    const revoked = new Set<string>();
    const list = t.optional(Tag.SEQUENCE);
    if (list) {
      const r = children(list);
      while (!r.done) {
        const entry = children(r.expect(Tag.SEQUENCE, "revokedCertificate"));
        const serial = entry.expect(Tag.INTEGER, "userCertificate").content;
        revoked.add(stripZeros(serial));
      }
    }
    return {
      tbs: tbsNode.raw,
      signatureAlgorithmOid: decodeOid(alg.expect(Tag.OID, "algorithm").content),
      signature: sig,
      issuer,
      issuerCn: nameAttribute(issuer, OID.commonName) ?? "",
      thisUpdate,
      nextUpdate,
      revoked,
    };
  } catch (e) {
    if (e instanceof EvidenceError) throw e;
    throw new EvidenceError("crl.format", `${what} is not a valid CRL (${(e as Error).message})`);
  }
}

const CRL_HASH: Record<string, string> = {
  [OID.ecdsaWithSHA256]: "sha256",
  [OID.ecdsaWithSHA384]: "sha384",
};

/** Signature by `issuer`, issuer name, and thisUpdate ≤ now ≤ nextUpdate (expiry recorded). */
export function checkCrl(crl: Crl, issuer: Cert, now: Date, check: string, f: Findings): void {
  const hash = CRL_HASH[crl.signatureAlgorithmOid];
  if (!hash)
    throw new EvidenceError(check, `unsupported CRL signature algorithm ${crl.signatureAlgorithmOid}`);
  let ok = false;
  try {
    ok = verify(hash, crl.tbs, { key: issuer.x509.publicKey, dsaEncoding: "der" }, crl.signature);
  } catch {
    ok = false;
  }
  if (!ok) throw new EvidenceError(check, `CRL signature does not verify with '${issuer.subjectCn}'`);
  if (!crl.issuer.equals(issuer.parsed.subject))
    throw new EvidenceError(check, `CRL issuer '${crl.issuerCn}' is not '${issuer.subjectCn}'`);
  if (now < crl.thisUpdate || (crl.nextUpdate && now > crl.nextUpdate))
    f.fail(
      `${check}.expired`,
      `CRL of '${crl.issuerCn}' is current ${iso(crl.thisUpdate)} .. ${crl.nextUpdate ? iso(crl.nextUpdate) : "-"}, not at ${iso(now)}`,
    );
}
