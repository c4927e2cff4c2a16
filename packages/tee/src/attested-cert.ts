// The self-signed attested certificate, written and read with an exact positional
// schema so that the legacy Rust parser, the Python SDK and OpenSSL all accept what we emit and
// so that we accept nothing the Rust parser would refuse.
import { createPublicKey, generateKeyPairSync, type KeyObject, sign, verify } from "node:crypto";
import { AttestationError } from "@cloister/core";
import {
  bitString,
  children,
  DerError,
  decodeBitStringBytes,
  decodeOid,
  decodeTime,
  decodeUnsignedInteger,
  explicit,
  integer,
  octetString,
  oid,
  parseOne,
  seq,
  set,
  Tag,
  utcTime,
  utf8String,
} from "./der.js";
import { type Endorsement, encodePayload } from "./report.js";
import { OID } from "./x509.js";

export const ATTESTED_CERT_VALIDITY_DAYS = 90;

const ecdsaWithSha256 = () => seq(oid(OID.ecdsaWithSHA256));
const cnName = (value: string) => seq(set(seq(oid(OID.commonName), utf8String(value))));

/** The 64 bytes X‖Y (big-endian) of a P-256 public key: the quote's REPORTDATA. */
export function reportDataOf(publicKey: KeyObject): Buffer {
  const point = uncompressedPoint(publicKey);
  return Buffer.from(point.subarray(1));
}

/** 65-byte uncompressed point `04‖X‖Y` of a P-256 public key. */
export function uncompressedPoint(publicKey: KeyObject): Buffer {
  if (publicKey.asymmetricKeyType !== "ec" || publicKey.asymmetricKeyDetails?.namedCurve !== "prime256v1") {
    throw new AttestationError("attested keys must be ECDSA P-256");
  }
  const spki = publicKey.export({ format: "der", type: "spki" });
  const point = spki.subarray(spki.length - 65);
  if (point[0] !== 0x04) throw new AttestationError("expected an uncompressed P-256 point");
  return Buffer.from(point);
}

export interface AttestedKeyPair {
  privateKey: KeyObject;
  publicKey: KeyObject;
}

export const generateAttestedKeyPair = (): AttestedKeyPair =>
  generateKeyPairSync("ec", { namedCurve: "P-256" });

export interface BuildAttestedCertificateOptions {
  keyPair: AttestedKeyPair;
  /** The endorsed report; `null` emits the simulation-mode payload `{"report":[],"signature":[],"certs":[]}`. */
  endorsement: Endorsement | null;
  /** Creation time; defaults to now. Truncated to whole seconds. */
  now?: Date;
}

/** Builds the DER of the attested certificate exactly as laid out in the legacy format. */
export function buildAttestedCertificate(o: BuildAttestedCertificateOptions): Buffer {
  const notBefore = new Date(Math.floor((o.now ?? new Date()).getTime() / 1000) * 1000);
  const notAfter = new Date(notBefore.getTime() + ATTESTED_CERT_VALIDITY_DAYS * 86_400_000);
  const payload = encodePayload(
    o.endorsement ?? { report: Buffer.alloc(0), signature: Buffer.alloc(0), certs: [] },
  );
  const tbs = seq(
    explicit(0, integer(2)),
    integer(1),
    ecdsaWithSha256(),
    cnName("Teaclave"),
    seq(utcTime(notBefore), utcTime(notAfter)),
    cnName("CN=Teaclave"),
    seq(seq(oid(OID.ecPublicKey), oid(OID.prime256v1)), bitString(uncompressedPoint(o.keyPair.publicKey))),
    explicit(3, seq(seq(oid(OID.netscapeComment), octetString(payload)))),
  );
  const signature = sign("sha256", tbs, { key: o.keyPair.privateKey, dsaEncoding: "der" });
  return seq(tbs, ecdsaWithSha256(), bitString(signature));
}

export interface ParsedAttestedCertificate {
  tbs: Buffer;
  serial: number;
  issuerCommonName: string;
  subjectCommonName: string;
  notBefore: Date;
  notAfter: Date;
  /** 65-byte uncompressed point 04‖X‖Y. */
  publicKey: Buffer;
  /** Raw bytes of the single extension's OCTET STRING (the JSON). */
  payload: Buffer;
  /** DER ECDSA signature (SEQUENCE { r, s }). */
  signature: Buffer;
}

function expectOid(n: { content: Buffer }, expected: string, what: string) {
  if (decodeOid(n.content) !== expected) throw new DerError(`unexpected ${what}`);
}

function readCnName(node: { content: Buffer }, what: string): string {
  const r = children(node as never);
  const rdn = children(r.expect(Tag.SET, `${what} RDN`));
  r.end(what);
  const atv = children(rdn.expect(Tag.SEQUENCE, `${what} attribute`));
  rdn.end(what);
  expectOid(atv.expect(Tag.OID, `${what} attribute type`), OID.commonName, `${what} attribute (must be CN)`);
  const value = atv.expect(Tag.UTF8_STRING, `${what} CN as UTF8String`);
  atv.end(what);
  return new TextDecoder("utf-8", { fatal: true }).decode(value.content);
}

function parseExact(der: Buffer): ParsedAttestedCertificate {
  const c = children(parseOne(der));
  const tbsNode = c.expect(Tag.SEQUENCE, "tbsCertificate");
  const alg = c.expect(Tag.SEQUENCE, "signatureAlgorithm");
  const sig = c.expect(Tag.BIT_STRING, "signatureValue");
  c.end("certificate");
  if (!alg.raw.equals(ecdsaWithSha256())) throw new DerError("signature algorithm must be ecdsa-with-SHA256");

  const t = children(tbsNode);
  const ver = children(t.expect(0xa0, "version"));
  const v = ver.expect(Tag.INTEGER, "version");
  ver.end("version");
  if (!v.content.equals(Buffer.from([2]))) throw new DerError("certificate must be X.509 v3");
  const serialBytes = decodeUnsignedInteger(t.expect(Tag.INTEGER, "serialNumber").content);
  if (serialBytes.length !== 1) throw new DerError("serial number must fit in one unsigned byte");
  if (!t.expect(Tag.SEQUENCE, "signature").raw.equals(ecdsaWithSha256())) {
    throw new DerError("TBS signature algorithm must be ecdsa-with-SHA256");
  }
  const issuerCommonName = readCnName(t.expect(Tag.SEQUENCE, "issuer"), "issuer");
  const validity = children(t.expect(Tag.SEQUENCE, "validity"));
  const nb = validity.expect(Tag.UTC_TIME, "notBefore UTCTime");
  const na = validity.expect(Tag.UTC_TIME, "notAfter UTCTime");
  validity.end("validity");
  const subjectCommonName = readCnName(t.expect(Tag.SEQUENCE, "subject"), "subject");

  const spki = children(t.expect(Tag.SEQUENCE, "subjectPublicKeyInfo"));
  const algId = children(spki.expect(Tag.SEQUENCE, "key algorithm"));
  expectOid(
    algId.expect(Tag.OID, "key algorithm"),
    OID.ecPublicKey,
    "key algorithm (must be id-ecPublicKey)",
  );
  expectOid(algId.expect(Tag.OID, "curve"), OID.prime256v1, "curve (must be prime256v1)");
  algId.end("key algorithm");
  const point = decodeBitStringBytes(spki.expect(Tag.BIT_STRING, "subjectPublicKey").content);
  spki.end("subjectPublicKeyInfo");

  const extOuter = children(t.expect(0xa3, "extensions"));
  const extList = children(extOuter.expect(Tag.SEQUENCE, "extensions"));
  extOuter.end("extensions");
  const ext = children(extList.expect(Tag.SEQUENCE, "extension"));
  extList.end("extensions (exactly one extension allowed)");
  expectOid(
    ext.expect(Tag.OID, "extension id"),
    OID.netscapeComment,
    "extension (must be 2.16.840.1.113730.1.13)",
  );
  const payload = ext.expect(Tag.OCTET_STRING, "extension value (non-critical, no BOOLEAN)");
  ext.end("extension");
  t.end("tbsCertificate");

  return {
    tbs: tbsNode.raw,
    serial: serialBytes[0]!,
    issuerCommonName,
    subjectCommonName,
    notBefore: decodeTime(nb),
    notAfter: decodeTime(na),
    publicKey: Buffer.from(point),
    payload: Buffer.from(payload.content),
    signature: decodeBitStringBytes(sig.content),
  };
}

/**
 * Parses an attested certificate with the exact schema. Throws AttestationError on any
 * deviation (extra extension, PrintableString, critical flag, other key type, …).
 */
export function parseAttestedCertificate(der: Buffer): ParsedAttestedCertificate {
  try {
    return parseExact(der);
  } catch (e) {
    if (e instanceof AttestationError) throw e;
    throw new AttestationError(
      `certificate does not match the attested-certificate schema: ${(e as Error).message}`,
    );
  }
}

/** Verifies the certificate's ECDSA-SHA256 self-signature with its own key. */
export function verifyAttestedSelfSignature(cert: ParsedAttestedCertificate): void {
  if (cert.publicKey.length !== 65 || cert.publicKey[0] !== 0x04) {
    throw new AttestationError("certificate public key is not an uncompressed P-256 point");
  }
  let key: KeyObject;
  try {
    key = createPublicKey({
      key: {
        kty: "EC",
        crv: "P-256",
        x: cert.publicKey.subarray(1, 33).toString("base64url"),
        y: cert.publicKey.subarray(33).toString("base64url"),
      },
      format: "jwk",
    });
  } catch {
    throw new AttestationError("certificate public key is not a valid P-256 point");
  }
  let ok = false;
  try {
    ok = verify("sha256", cert.tbs, { key, dsaEncoding: "der" }, cert.signature);
  } catch {
    ok = false;
  }
  if (!ok) throw new AttestationError("certificate self-signature does not verify");
}
