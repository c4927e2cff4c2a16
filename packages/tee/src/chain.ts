// Validation of the attestation service's signing certificate chain: the union of OpenSSL's
// chain checks (as the Python SDK does) and webpki's end-entity rules (as the Rust verifiers
// do), with a single trust anchor.
import { constants, type KeyObject, verify } from "node:crypto";
import { AttestationError } from "@cloister/core";
import {
  basicConstraintsOf,
  extendedKeyUsageOf,
  KeyUsage,
  keyUsageOf,
  OID,
  type ParsedCertificate,
  parseCertificate,
  publicKeyOf,
} from "./x509.js";

const MAX_INTERMEDIATES = 6;

/** Extensions we understand; any other extension marked critical makes a certificate unusable. */
const UNDERSTOOD_EXTENSIONS = new Set<string>([
  OID.basicConstraints,
  OID.keyUsage,
  OID.extKeyUsage,
  OID.subjectAltName,
  OID.subjectKeyIdentifier,
  OID.authorityKeyIdentifier,
]);

type SigAlg = { hash: "sha256" | "sha384" | "sha512"; key: "rsa" | "ec" };

/** Accepted chain signature algorithms (without RSA-PSS), by exact DER encoding. */
const SIGNATURE_ALGORITHMS = new Map<string, SigAlg>([
  ["300d06092a864886f70d01010b0500", { hash: "sha256", key: "rsa" }],
  ["300d06092a864886f70d01010c0500", { hash: "sha384", key: "rsa" }],
  ["300d06092a864886f70d01010d0500", { hash: "sha512", key: "rsa" }],
  ["300a06082a8648ce3d040302", { hash: "sha256", key: "ec" }],
  ["300a06082a8648ce3d040303", { hash: "sha384", key: "ec" }],
]);

export function parseChainCertificate(der: Buffer, what: string): ParsedCertificate {
  try {
    return parseCertificate(der);
  } catch (e) {
    throw new AttestationError(`${what} is not a valid X.509 certificate: ${(e as Error).message}`);
  }
}

/** Checks `child`'s signature was made by `issuerKey` with an accepted algorithm and key size. */
function checkSignedBy(child: ParsedCertificate, issuerKey: KeyObject, what: string): boolean {
  const alg = SIGNATURE_ALGORITHMS.get(child.signatureAlgorithm.toString("hex"));
  if (!alg)
    throw new AttestationError(
      `${what} uses an unsupported signature algorithm (${child.signatureAlgorithmOid})`,
    );
  const type = issuerKey.asymmetricKeyType;
  if (alg.key === "rsa") {
    if (type !== "rsa") return false;
    const bits = issuerKey.asymmetricKeyDetails?.modulusLength ?? 0;
    if (bits < 2048 || bits > 8192)
      throw new AttestationError(`${what} is signed by an RSA key of unsupported size ${bits}`);
    try {
      return verify(
        alg.hash,
        child.tbs,
        { key: issuerKey, padding: constants.RSA_PKCS1_PADDING },
        child.signature,
      );
    } catch {
      return false;
    }
  }
  if (type !== "ec") return false;
  const curve = issuerKey.asymmetricKeyDetails?.namedCurve;
  if (curve !== "prime256v1" && curve !== "secp384r1") return false;
  try {
    return verify(alg.hash, child.tbs, { key: issuerKey, dsaEncoding: "der" }, child.signature);
  } catch {
    return false;
  }
}

function checkCommon(cert: ParsedCertificate, now: Date, what: string): void {
  if (cert.version !== 3) throw new AttestationError(`${what} is not an X.509 v3 certificate`);
  if (cert.serial.length > 20) throw new AttestationError(`${what} has an over-long serial number`);
  if (now < cert.notBefore) throw new AttestationError(`${what} is not yet valid`);
  if (now > cert.notAfter) throw new AttestationError(`${what} has expired`);
  for (const e of cert.extensions) {
    if (e.critical && !UNDERSTOOD_EXTENSIONS.has(e.oid)) {
      throw new AttestationError(`${what} has an unsupported critical extension ${e.oid}`);
    }
  }
  let eku: string[] | undefined;
  try {
    eku = extendedKeyUsageOf(cert);
  } catch {
    throw new AttestationError(`${what} has a malformed extended key usage`);
  }
  if (eku && !eku.includes(OID.serverAuth)) {
    throw new AttestationError(`${what} has an extended key usage without serverAuth`);
  }
}

function constraints(cert: ParsedCertificate, what: string) {
  try {
    return { bc: basicConstraintsOf(cert), ku: keyUsageOf(cert) };
  } catch {
    throw new AttestationError(`${what} has malformed basic constraints or key usage`);
  }
}

/** Issuer-side rules: must be a CA allowed to sign certificates, with room in its path length. */
function checkCanIssue(cert: ParsedCertificate, intermediatesBelow: number, what: string): void {
  const { bc, ku } = constraints(cert, what);
  if (!bc?.ca) throw new AttestationError(`${what} is not a CA certificate`);
  if (bc.pathLen !== undefined && intermediatesBelow > bc.pathLen) {
    throw new AttestationError(`${what} path length constraint exceeded`);
  }
  if (ku !== undefined && (ku & KeyUsage.keyCertSign) === 0) {
    throw new AttestationError(`${what} key usage does not allow certificate signing`);
  }
}

export interface TrustAnchor {
  cert: ParsedCertificate;
  key: KeyObject;
}

/** Parses and sanity-checks the configured attestation-service root CA. */
export function trustAnchorFrom(der: Buffer): TrustAnchor {
  const cert = parseChainCertificate(der, "attestation service root CA");
  let key: KeyObject;
  try {
    key = publicKeyOf(cert);
  } catch {
    throw new AttestationError("attestation service root CA has an unusable public key");
  }
  return { cert, key };
}

/**
 * Validates `certs[0]` (the report signing certificate) as an end entity chaining through
 * `certs[1..]` to `anchor` at `now`. Returns the chain used, leaf first, ending with the anchor.
 */
export function validateSigningChain(certs: Buffer[], anchor: TrustAnchor, now: Date): ParsedCertificate[] {
  if (certs.length === 0) throw new AttestationError("no report signing certificate");
  const leaf = parseChainCertificate(certs[0]!, "report signing certificate");
  const pool = certs
    .slice(1)
    .map((d, i) => parseChainCertificate(d, `report certificate chain element ${i + 1}`));

  checkCommon(leaf, now, "report signing certificate");
  const { bc } = constraints(leaf, "report signing certificate");
  if (bc?.ca) throw new AttestationError("report signing certificate is a CA certificate, not an end entity");

  // The anchor is checked like OpenSSL checks a trusted root: valid now, and a CA.
  checkCommon(anchor.cert, now, "attestation service root CA");

  let lastError: AttestationError | undefined;
  const walk = (
    current: ParsedCertificate,
    path: ParsedCertificate[],
    what: string,
  ): ParsedCertificate[] | undefined => {
    const below = path.length - 1;
    if (current.issuer.equals(anchor.cert.subject)) {
      try {
        checkCanIssue(anchor.cert, below, "attestation service root CA");
        if (checkSignedBy(current, anchor.key, what)) return [...path, anchor.cert];
        lastError = new AttestationError(`${what} is not signed by the attestation service root CA`);
      } catch (e) {
        lastError = e as AttestationError;
      }
    }
    if (below >= MAX_INTERMEDIATES) return undefined;
    for (const candidate of pool) {
      if (path.includes(candidate) || !current.issuer.equals(candidate.subject)) continue;
      try {
        checkCommon(candidate, now, "intermediate certificate");
        checkCanIssue(candidate, below, "intermediate certificate");
        if (!checkSignedBy(current, publicKeyOf(candidate), what)) continue;
      } catch (e) {
        lastError =
          e instanceof AttestationError ? e : new AttestationError("intermediate certificate is unusable");
        continue;
      }
      const found = walk(candidate, [...path, candidate], "intermediate certificate");
      if (found) return found;
    }
    return undefined;
  };
  const chain = walk(leaf, [leaf], "report signing certificate");
  if (!chain) {
    throw (
      lastError ??
      new AttestationError("report signing certificate does not chain to the attestation service root CA")
    );
  }
  return chain;
}
