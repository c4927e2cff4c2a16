// Generic X.509 parsing (for the attestation service's certificate chain) and issuance of the
// emulated attestation service's RSA certificates. Parsing is strict DER; the chain rules
// themselves live in chain.ts.
import { createHash, createPublicKey, type KeyObject, randomBytes, sign } from "node:crypto";
import {
  bitString,
  boolean,
  children,
  DerError,
  decodeBitStringBytes,
  decodeBoolean,
  decodeOid,
  decodeSmallInteger,
  decodeTime,
  decodeUnsignedInteger,
  derNull,
  explicit,
  integer,
  type Node,
  octetString,
  oid,
  parseOne,
  seq,
  set,
  Tag,
  time,
  tlv,
  utf8String,
} from "./der.js";

export const OID = {
  commonName: "2.5.4.3",
  organizationName: "2.5.4.10",
  ecPublicKey: "1.2.840.10045.2.1",
  prime256v1: "1.2.840.10045.3.1.7",
  secp384r1: "1.3.132.0.34",
  rsaEncryption: "1.2.840.113549.1.1.1",
  rsassaPss: "1.2.840.113549.1.1.10",
  sha256WithRSA: "1.2.840.113549.1.1.11",
  sha384WithRSA: "1.2.840.113549.1.1.12",
  sha512WithRSA: "1.2.840.113549.1.1.13",
  ecdsaWithSHA256: "1.2.840.10045.4.3.2",
  ecdsaWithSHA384: "1.2.840.10045.4.3.3",
  basicConstraints: "2.5.29.19",
  keyUsage: "2.5.29.15",
  extKeyUsage: "2.5.29.37",
  subjectAltName: "2.5.29.17",
  subjectKeyIdentifier: "2.5.29.14",
  authorityKeyIdentifier: "2.5.29.35",
  nameConstraints: "2.5.29.30",
  serverAuth: "1.3.6.1.5.5.7.3.1",
  netscapeComment: "2.16.840.1.113730.1.13",
} as const;

export interface Extension {
  oid: string;
  critical: boolean;
  value: Buffer;
}

export interface ParsedCertificate {
  der: Buffer;
  /** 1, 2 or 3. */
  version: number;
  serial: Buffer;
  tbs: Buffer;
  /** Encoded AlgorithmIdentifier of the outer signatureAlgorithm (must equal the TBS one). */
  signatureAlgorithm: Buffer;
  signatureAlgorithmOid: string;
  signature: Buffer;
  issuer: Buffer;
  subject: Buffer;
  notBefore: Date;
  notAfter: Date;
  spki: Buffer;
  extensions: Extension[];
}

/** Parses a certificate's structure (RFC 5280 §4.1) with strict DER rules. */
export interface ParseCertificateOptions {
  /**
   * Accept two common encoding slips of certificate issuers that do not change what is signed:
   * an explicit `critical FALSE`, and a serial number encoded negative or with extra leading
   * zeros (its bytes are kept as they are). Everything else stays strict.
   */
  lenient?: boolean;
}

export function parseCertificate(der: Buffer, options: ParseCertificateOptions = {}): ParsedCertificate {
  const cert = parseOne(der);
  if (cert.tag !== Tag.SEQUENCE) throw new DerError("certificate is not a SEQUENCE");
  const c = children(cert);
  const tbsNode = c.expect(Tag.SEQUENCE, "tbsCertificate");
  const sigAlg = c.expect(Tag.SEQUENCE, "signatureAlgorithm");
  const sigNode = c.expect(Tag.BIT_STRING, "signatureValue");
  c.end("certificate");

  const t = children(tbsNode);
  let version = 1;
  const v = t.optional(0xa0);
  if (v) {
    const vr = children(v);
    version = decodeSmallInteger(vr.expect(Tag.INTEGER, "version").content) + 1;
    vr.end("version");
    if (version < 2 || version > 3) throw new DerError("unsupported certificate version");
  }
  const serialNode = t.expect(Tag.INTEGER, "serialNumber").content;
  const serial = options.lenient ? lenientSerial(serialNode) : decodeUnsignedInteger(serialNode);
  const innerAlg = t.expect(Tag.SEQUENCE, "signature");
  const issuer = t.expect(Tag.SEQUENCE, "issuer");
  const validity = children(t.expect(Tag.SEQUENCE, "validity"));
  const notBefore = decodeTime(validity.any());
  const notAfter = decodeTime(validity.any());
  validity.end("validity");
  const subject = t.expect(Tag.SEQUENCE, "subject");
  const spki = t.expect(Tag.SEQUENCE, "subjectPublicKeyInfo");
  t.optional(0x81);
  t.optional(0x82);
  const extensions: Extension[] = [];
  const extsNode = t.optional(0xa3);
  if (extsNode) {
    if (version !== 3) throw new DerError("extensions require a v3 certificate");
    const outer = children(extsNode);
    const list = children(outer.expect(Tag.SEQUENCE, "extensions"));
    outer.end("extensions");
    while (!list.done) {
      const e = children(list.expect(Tag.SEQUENCE, "extension"));
      const id = decodeOid(e.expect(Tag.OID, "extnID").content);
      const critNode = e.optional(Tag.BOOLEAN);
      const critical = critNode ? decodeBoolean(critNode.content) : false;
      if (critNode && !critical && !options.lenient)
        throw new DerError("DER forbids encoding the default critical=FALSE");
      const value = e.expect(Tag.OCTET_STRING, "extnValue").content;
      e.end("extension");
      if (extensions.some((x) => x.oid === id)) throw new DerError(`duplicate extension ${id}`);
      extensions.push({ oid: id, critical, value });
    }
    if (extensions.length === 0) throw new DerError("empty extensions list");
  }
  t.end("tbsCertificate");
  if (!innerAlg.raw.equals(sigAlg.raw))
    throw new DerError("signature algorithms in TBS and certificate differ");
  const algOid = decodeOid(children(sigAlg).expect(Tag.OID, "algorithm").content);

  return {
    der,
    version,
    serial,
    tbs: tbsNode.raw,
    signatureAlgorithm: sigAlg.raw,
    signatureAlgorithmOid: algOid,
    signature: decodeBitStringBytes(sigNode.content),
    issuer: issuer.raw,
    subject: subject.raw,
    notBefore,
    notAfter,
    spki: spki.raw,
    extensions,
  };
}

function lenientSerial(content: Buffer): Buffer {
  if (content.length === 0) throw new DerError("empty INTEGER");
  let i = 0;
  while (i < content.length - 1 && content[i] === 0) i++;
  return content.subarray(i);
}

export interface BasicConstraints {
  ca: boolean;
  pathLen?: number;
}

export function basicConstraintsOf(cert: ParsedCertificate): BasicConstraints | undefined {
  const ext = cert.extensions.find((e) => e.oid === OID.basicConstraints);
  if (!ext) return undefined;
  const r = children(parseOne(ext.value));
  const caNode = r.optional(Tag.BOOLEAN);
  const ca = caNode ? decodeBoolean(caNode.content) : false;
  if (caNode && !ca) throw new DerError("basicConstraints encodes the default cA=FALSE");
  const pl = r.optional(Tag.INTEGER);
  r.end("basicConstraints");
  return pl ? { ca, pathLen: decodeSmallInteger(pl.content) } : { ca };
}

/** Extended key usage OIDs, or undefined when the extension is absent. */
export function extendedKeyUsageOf(cert: ParsedCertificate): string[] | undefined {
  const ext = cert.extensions.find((e) => e.oid === OID.extKeyUsage);
  if (!ext) return undefined;
  const r = children(parseOne(ext.value));
  const out: string[] = [];
  while (!r.done) out.push(decodeOid(r.expect(Tag.OID, "KeyPurposeId").content));
  return out;
}

/** keyUsage bits as a number (bit 0 = digitalSignature … bit 8 = decipherOnly), or undefined. */
export function keyUsageOf(cert: ParsedCertificate): number | undefined {
  const ext = cert.extensions.find((e) => e.oid === OID.keyUsage);
  if (!ext) return undefined;
  const n = parseOne(ext.value);
  if (n.tag !== Tag.BIT_STRING || n.content.length < 1) throw new DerError("invalid keyUsage");
  let bits = 0;
  const bytes = n.content.subarray(1);
  for (let i = 0; i < bytes.length * 8 && i < 16; i++) {
    if ((bytes[i >> 3]! >> (7 - (i & 7))) & 1) bits |= 1 << i;
  }
  return bits;
}

export const KeyUsage = { digitalSignature: 1 << 0, keyCertSign: 1 << 5, cRLSign: 1 << 6 } as const;

export const publicKeyOf = (cert: ParsedCertificate): KeyObject =>
  createPublicKey({ key: cert.spki, format: "der", type: "spki" });

// ---------------------------------------------------------------------------------------------
// PEM

export function pemEncode(label: string, der: Buffer): string {
  const b64 = der.toString("base64").replace(/.{1,64}/g, "$&\n");
  return `-----BEGIN ${label}-----\n${b64}-----END ${label}-----\n`;
}

/** All PEM blocks with the given label, in order. */
export function pemDecodeAll(text: string, label: string): Buffer[] {
  const re = new RegExp(`-----BEGIN ${label}-----([A-Za-z0-9+/=\\s]*?)-----END ${label}-----`, "g");
  return [...text.matchAll(re)].map((m) => Buffer.from(m[1]!.replace(/\s+/g, ""), "base64"));
}

/** Certificate as DER from a DER buffer or PEM text (or a Buffer holding PEM text). */
export function toCertificateDer(input: Buffer | string): Buffer {
  const asText =
    typeof input === "string"
      ? input
      : input.subarray(0, 11).toString("latin1") === "-----BEGIN "
        ? input.toString("latin1")
        : undefined;
  if (asText === undefined) return Buffer.from(input as Buffer);
  const [der] = pemDecodeAll(asText, "CERTIFICATE");
  if (!der) throw new DerError("no CERTIFICATE PEM block found");
  return der;
}

// ---------------------------------------------------------------------------------------------
// Issuance (RSA certificates of the emulated attestation service)

export interface NameAttr {
  oid: string;
  value: string;
}

export const encodeName = (attrs: NameAttr[]): Buffer =>
  seq(...attrs.map((a) => set(seq(oid(a.oid), utf8String(a.value)))));

export const sha256WithRsaAlgorithm = (): Buffer => seq(oid(OID.sha256WithRSA), derNull());

export interface IssueOptions {
  subject: NameAttr[];
  /** Encoded issuer Name (the issuer certificate's subject bytes); omit for self-signed. */
  issuer?: Buffer;
  subjectPublicKey: KeyObject;
  signingKey: KeyObject;
  /** SubjectKeyIdentifier of the issuer, for the AuthorityKeyIdentifier extension. */
  issuerKeyId?: Buffer;
  notBefore: Date;
  notAfter: Date;
  ca: boolean;
  keyUsage: number;
}

/** Key identifier per RFC 5280 §4.2.1.2 method 1 (SHA-1 of the subjectPublicKey bits). */
export function keyIdentifier(spkiDer: Buffer): Buffer {
  const r = children(parseOne(spkiDer));
  r.expect(Tag.SEQUENCE, "algorithm");
  const bits = decodeBitStringBytes(r.expect(Tag.BIT_STRING, "subjectPublicKey").content);
  return createHash("sha1").update(bits).digest();
}

function keyUsageExt(bits: number): Buffer {
  let highest = 0;
  for (let i = 0; i < 9; i++) if (bits & (1 << i)) highest = i;
  const nbytes = highest < 8 ? 1 : 2;
  const bytes = Buffer.alloc(nbytes);
  for (let i = 0; i <= highest; i++) if (bits & (1 << i)) bytes[i >> 3]! |= 0x80 >> (i & 7);
  const unused = nbytes * 8 - (highest + 1);
  return tlv(Tag.BIT_STRING, Buffer.concat([Buffer.from([unused]), bytes]));
}

const extension = (id: string, critical: boolean, value: Buffer): Buffer =>
  critical ? seq(oid(id), boolean(true), octetString(value)) : seq(oid(id), octetString(value));

/** Issues an RSA-signed (sha256WithRSAEncryption) v3 certificate. */
export function issueRsaCertificate(o: IssueOptions): Buffer {
  const spki = o.subjectPublicKey.export({ format: "der", type: "spki" });
  const subject = encodeName(o.subject);
  const ski = keyIdentifier(spki);
  // Positive, 16 random bytes, first byte non-zero: within webpki's 20-byte limit and minimal DER.
  const serial = randomBytes(16);
  serial[0] = (serial[0]! & 0x7f) | 0x01;
  const exts = [
    extension(OID.basicConstraints, true, o.ca ? seq(boolean(true)) : seq()),
    extension(OID.keyUsage, true, keyUsageExt(o.keyUsage)),
    extension(OID.subjectKeyIdentifier, false, octetString(ski)),
  ];
  if (o.issuerKeyId) exts.push(extension(OID.authorityKeyIdentifier, false, seq(tlv(0x80, o.issuerKeyId))));
  const tbs = seq(
    explicit(0, integer(2)),
    integer(serial),
    sha256WithRsaAlgorithm(),
    o.issuer ?? subject,
    seq(time(o.notBefore), time(o.notAfter)),
    subject,
    spki,
    explicit(3, seq(...exts)),
  );
  const signature = sign("sha256", tbs, o.signingKey);
  return seq(tbs, sha256WithRsaAlgorithm(), bitString(signature));
}

/** Reads a name attribute (first match) as a string, for diagnostics. */
export function nameAttribute(name: Buffer, attrOid: string): string | undefined {
  const r = children(parseOne(name));
  while (!r.done) {
    const rdn = children(r.expect(Tag.SET, "RDN"));
    while (!rdn.done) {
      const atv = children(rdn.expect(Tag.SEQUENCE, "AttributeTypeAndValue"));
      const id = decodeOid(atv.expect(Tag.OID, "type").content);
      const value: Node = atv.any();
      if (id === attrOid) return value.content.toString("utf8");
    }
  }
  return undefined;
}
