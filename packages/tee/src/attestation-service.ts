// The emulated attestation service (spec §13.2): a DCAP-style service that endorses simulated
// quotes with an RSA signature chaining to a root CA that is clearly labelled as simulated.
import { createPrivateKey, generateKeyPair, type KeyObject, sign, verify } from "node:crypto";
import { promises as fs } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { AttestationError } from "@cloister/core";
import { readOrCreate, writeAtomic } from "./files.js";
import { parseQuoteBody, QUOTE_BODY_LENGTH } from "./quote.js";
import { buildReport, type Endorsement } from "./report.js";
import {
  issueRsaCertificate,
  KeyUsage,
  keyIdentifier,
  type NameAttr,
  OID,
  type ParsedCertificate,
  parseCertificate,
  pemDecodeAll,
  pemEncode,
  publicKeyOf,
} from "./x509.js";

const generateKeyPairAsync = promisify(generateKeyPair);

const DAY = 86_400_000;
/** Certificates are back-dated a little so that hosts with slightly slow clocks accept them. */
const BACKDATE_MS = 5 * 60_000;
const ROOT_VALIDITY_MS = 3650 * DAY;
const SIGNING_VALIDITY_MS = 365 * DAY;
/** Re-issue the signing certificate when it has less than this left. */
const SIGNING_RENEW_BEFORE_MS = 30 * DAY;

const ORGANIZATION = "Cloister (SIMULATED TEE - no hardware guarantee)";
export const SIM_ROOT_CA_SUBJECT = [
  { oid: OID.organizationName, value: ORGANIZATION },
  { oid: OID.commonName, value: "Cloister Simulated Attestation Root CA" },
];
export const SIM_SIGNING_SUBJECT = [
  { oid: OID.organizationName, value: ORGANIZATION },
  { oid: OID.commonName, value: "Cloister Simulated Attestation Report Signing" },
];

/** Files of the emulated attestation service, relative to the data directory. */
export const AttestationFiles = {
  /** Root CA certificate handed to clients as their "AS root CA" (public). */
  rootCaCert: "as_root_ca.pem",
  /** Root CA private key and certificate (mode 0600). */
  rootCaKey: join("attestation", "root-ca.key.pem"),
  /** Signing key and certificate (mode 0600). */
  signingKey: join("attestation", "report-signing.key.pem"),
} as const;

/** Anything that can endorse a quote: the in-process emulation or a client of a remote service. */
export interface AttestationService {
  endorse(quote: Buffer): Endorsement | Promise<Endorsement>;
}

export interface KeyAndCert {
  key: KeyObject;
  certDer: Buffer;
  cert: ParsedCertificate;
}

function parseBundle(text: string, what: string): KeyAndCert {
  const [certDer] = pemDecodeAll(text, "CERTIFICATE");
  if (!certDer) throw new AttestationError(`${what} has no certificate`);
  let key: KeyObject;
  try {
    key = createPrivateKey(text);
  } catch {
    throw new AttestationError(`${what} has no usable private key`);
  }
  return { key, certDer, cert: parseCertificate(certDer) };
}

const bundle = (key: KeyObject, certDer: Buffer) =>
  (key.export({ format: "pem", type: "pkcs8" }) as string) + pemEncode("CERTIFICATE", certDer);

export interface SimAttestationServiceOptions {
  /** Validity of a newly issued signing certificate; default 365 days. */
  signingValidityMs?: number;
  /** Clock used for issuing and for report timestamps (tests); default the system clock. */
  now?: () => Date;
}

export interface ReportSigningKeys {
  root: KeyAndCert;
  signer: KeyAndCert;
}

export interface ReportSigningKeyOptions extends SimAttestationServiceOptions {
  rootSubject: NameAttr[];
  signingSubject: NameAttr[];
  /** Where the keys live under the data directory; default AttestationFiles. */
  files?: { rootCaCert: string; rootCaKey: string; signingKey: string };
}

/**
 * Loads (or creates on first use) an attestation service's root CA and report signing key
 * under `dataDir`, re-issuing the signing certificate when it is close to expiry or was not
 * issued by the current root, and publishes the root certificate for clients. Safe to call
 * from several processes at once.
 */
export async function loadOrCreateReportSigningKeys(
  dataDir: string,
  o: ReportSigningKeyOptions,
): Promise<ReportSigningKeys> {
  const now = o.now ?? (() => new Date());
  const files = o.files ?? AttestationFiles;
  const rootText = await readOrCreate(
    join(dataDir, files.rootCaKey),
    async () => {
      const { privateKey, publicKey } = await generateKeyPairAsync("rsa", { modulusLength: 3072 });
      const t = now().getTime();
      const der = issueRsaCertificate({
        subject: o.rootSubject,
        subjectPublicKey: publicKey,
        signingKey: privateKey,
        notBefore: new Date(t - BACKDATE_MS),
        notAfter: new Date(t + ROOT_VALIDITY_MS),
        ca: true,
        keyUsage: KeyUsage.keyCertSign | KeyUsage.cRLSign,
      });
      return bundle(privateKey, der);
    },
    0o600,
  );
  const root = parseBundle(rootText, "attestation root CA key file");
  const rootPem = pemEncode("CERTIFICATE", root.certDer);
  const published = await fs.readFile(join(dataDir, files.rootCaCert), "utf8").catch(() => undefined);
  if (published !== rootPem) await writeAtomic(join(dataDir, files.rootCaCert), rootPem, 0o644);

  const signingPath = join(dataDir, files.signingKey);
  let signer = await fs
    .readFile(signingPath, "utf8")
    .then((t) => parseBundle(t, "attestation signing key file"))
    .catch(() => undefined);
  const usable = (s: KeyAndCert | undefined): s is KeyAndCert =>
    !!s &&
    s.cert.issuer.equals(root.cert.subject) &&
    s.cert.notAfter.getTime() - now().getTime() > SIGNING_RENEW_BEFORE_MS &&
    s.cert.notBefore.getTime() <= now().getTime();
  if (!usable(signer)) {
    const { privateKey, publicKey } = await generateKeyPairAsync("rsa", { modulusLength: 2048 });
    const t = now().getTime();
    const der = issueRsaCertificate({
      subject: o.signingSubject,
      issuer: root.cert.subject,
      issuerKeyId: keyIdentifier(root.cert.spki),
      subjectPublicKey: publicKey,
      signingKey: root.key,
      notBefore: new Date(t - BACKDATE_MS),
      notAfter: new Date(t + (o.signingValidityMs ?? SIGNING_VALIDITY_MS)),
      ca: false,
      keyUsage: KeyUsage.digitalSignature,
    });
    await writeAtomic(signingPath, bundle(privateKey, der), 0o600);
    signer = { key: privateKey, certDer: der, cert: parseCertificate(der) };
  }
  // Guard against a signing key file that does not match its certificate.
  const probe = Buffer.from("cloister key check");
  if (!verify("sha256", probe, publicKeyOf(signer.cert), sign("sha256", probe, signer.key))) {
    throw new AttestationError("attestation signing key does not match its certificate");
  }
  return { root, signer };
}

export class SimAttestationService implements AttestationService {
  private constructor(
    readonly dataDir: string,
    private readonly root: KeyAndCert,
    private readonly signer: KeyAndCert,
    private readonly now: () => Date,
  ) {}

  /**
   * Loads the service's keys from `dataDir`, creating the root CA and signing certificate on
   * first use (and re-issuing the signing certificate when it is close to expiry or was not
   * issued by the current root). Safe to call from several processes at once.
   */
  static async loadOrCreate(
    dataDir: string,
    options: SimAttestationServiceOptions = {},
  ): Promise<SimAttestationService> {
    const { root, signer } = await loadOrCreateReportSigningKeys(dataDir, {
      ...options,
      rootSubject: SIM_ROOT_CA_SUBJECT,
      signingSubject: SIM_SIGNING_SUBJECT,
    });
    return new SimAttestationService(dataDir, root, signer, options.now ?? (() => new Date()));
  }

  /** DER of the root CA certificate (the trust anchor clients need). */
  get rootCaDer(): Buffer {
    return Buffer.from(this.root.certDer);
  }

  /** PEM of the root CA certificate, as written to `<dataDir>/as_root_ca.pem`. */
  get rootCaPem(): string {
    return pemEncode("CERTIFICATE", this.root.certDer);
  }

  /** DER of the report signing certificate. */
  get signingCertDer(): Buffer {
    return Buffer.from(this.signer.certDer);
  }

  /**
   * Endorses a simulated quote: wraps its 432-byte body in a version-4 report with status OK
   * and signs it (RSA PKCS#1 v1.5 SHA-256). Refuses quotes without the simulation marker: this
   * service cannot check real hardware evidence and must never appear to vouch for it.
   */
  endorse(quote: Buffer): Endorsement {
    if (!Buffer.isBuffer(quote) || quote.length < QUOTE_BODY_LENGTH) {
      throw new AttestationError(`invalid evidence payload: a quote has at least ${QUOTE_BODY_LENGTH} bytes`);
    }
    const body = Buffer.from(quote.subarray(0, QUOTE_BODY_LENGTH));
    const parsed = parseQuoteBody(body);
    if (!parsed.simulated || quote.length !== QUOTE_BODY_LENGTH) {
      throw new AttestationError(
        "invalid evidence payload: the simulated attestation service only endorses simulated quotes",
      );
    }
    const report = buildReport({ quoteBody: body, status: "OK", timestamp: this.now(), simulated: true });
    const signature = sign("sha256", report, this.signer.key);
    return { report, signature, certs: [Buffer.from(this.signer.certDer)] };
  }
}
