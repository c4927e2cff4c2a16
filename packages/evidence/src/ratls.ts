// RA-TLS certificates: a self-signed certificate whose key was made inside the enclave, with an
// SGX quote in an extension whose REPORTDATA binds that key. Three encodings exist: Gramine's
// legacy extension, the TCG DICE tagged-evidence extension, and the Intel SGX SDK's.
import { createHash } from "node:crypto";
import { hex, isZero } from "./bytes.js";
import { type CborValue, decodeCbor, mapGet } from "./cbor.js";
import { EvidenceError, type Failure, Findings, must } from "./errors.js";
import type { IntelCollateral } from "./intel/collateral.js";
import { type IntelVerification, verifyIntelQuote } from "./intel/verify.js";
import { type Cert, checkValidity, loadCerts } from "./x509.js";

/** What Gramine writes: 1.2.840.113741.1337.6 wrapped in a second OID header. */
export const GRAMINE_LEGACY_OIDS = ["0.6.9.42.840.113741.1337.6", "1.2.840.113741.1337.6"];
export const TCG_DICE_TAGGED_EVIDENCE_OID = "2.23.133.5.4.9";
export const INTEL_SGXSDK_QUOTE_OID = "1.2.840.113741.1.13.1";
/** CBOR tag of an Intel TEE quote in TCG DICE evidence. */
export const CBOR_TAG_INTEL_QUOTE = 60000n;
/** IANA named-information hash ids. */
const HASHES: Record<string, string> = { "1": "sha256", "7": "sha384", "8": "sha512" };

export type RaTlsEncoding = "tcg-dice" | "gramine-legacy" | "intel-sgxsdk";

export interface RaTlsQuote {
  encoding: RaTlsEncoding;
  quote: Buffer;
  verification: IntelVerification;
}

export interface RaTlsVerification {
  certificate: Cert;
  spkiSha256: string;
  /** Every quote found, the one the result is based on first (DICE, then legacy, then SDK). */
  quotes: RaTlsQuote[];
  failures: Failure[];
}

export interface RaTlsVerifyOptions {
  now: Date;
  collateral?: IntelCollateral | undefined;
}

const ext = (c: Cert, oids: string[]) => c.parsed.extensions.find((e) => oids.includes(e.oid))?.value;

interface Dice {
  quote: Buffer;
  claims: Buffer;
}

function parseDice(value: Buffer, spki: Buffer): Dice {
  const top = decodeCbor(value);
  must(
    top.type === "tag" && top.tag === CBOR_TAG_INTEL_QUOTE,
    "ratls.format",
    "DICE evidence is not an Intel quote (CBOR tag 60000)",
  );
  const arr: CborValue = top.value;
  must(
    arr.type === "array" && arr.value.length === 2,
    "ratls.format",
    "DICE evidence is not [quote, claims]",
  );
  const [q, c] = arr.value as [CborValue, CborValue];
  must(
    q.type === "bytes" && c.type === "bytes",
    "ratls.format",
    "DICE evidence members are not byte strings",
  );
  const claims = decodeCbor(Buffer.from(c.value));
  const ph = mapGet(claims, "pubkey-hash");
  must(ph?.type === "bytes", "ratls.binding", "DICE claims have no pubkey-hash");
  const pair = decodeCbor(Buffer.from(ph.value));
  must(pair.type === "array" && pair.value.length === 2, "ratls.format", "pubkey-hash is not [alg, hash]");
  const [alg, h] = pair.value as [CborValue, CborValue];
  must(alg.type === "uint" && h.type === "bytes", "ratls.format", "pubkey-hash is not [alg, hash]");
  const hash = HASHES[alg.value.toString()];
  must(hash, "ratls.binding", `unsupported pubkey-hash algorithm ${alg.value}`);
  must(
    createHash(hash).update(spki).digest().equals(h.value),
    "ratls.binding",
    "pubkey-hash is not the hash of the certificate's key",
  );
  return { quote: Buffer.from(q.value), claims: Buffer.from(c.value) };
}

function bindingOf(reportData: Buffer, expected: Buffer, what: string): void {
  must(
    reportData.subarray(0, 32).equals(expected) && isZero(reportData.subarray(32)),
    "ratls.binding",
    `REPORTDATA of the ${what} quote does not bind the certificate key`,
  );
}

/** Verifies an RA-TLS certificate (PEM or DER): its own signature and validity, each quote, the key binding. */
export function verifyRaTlsCertificate(input: Buffer | string, o: RaTlsVerifyOptions): RaTlsVerification {
  const [cert] = loadCerts(input, "RA-TLS certificate", "ratls.certificate");
  must(cert, "ratls.certificate", "no certificate");
  const f = new Findings();
  const spki = cert.parsed.spki;
  const v: RaTlsVerification = {
    certificate: cert,
    spkiSha256: createHash("sha256").update(spki).digest("hex"),
    quotes: [],
    failures: f.failures,
  };
  let selfSigned = false;
  try {
    selfSigned = cert.x509.checkIssued(cert.x509) && cert.x509.verify(cert.x509.publicKey);
  } catch {
    selfSigned = false;
  }
  if (!selfSigned) f.fail("ratls.certificate", "certificate is not validly self-signed");
  checkValidity(cert, o.now, "ratls.certificate", f);

  const found: { encoding: RaTlsEncoding; quote: Buffer; binding: Buffer | undefined }[] = [];
  let dice: Dice | undefined;
  const diceValue = ext(cert, [TCG_DICE_TAGGED_EVIDENCE_OID]);
  if (diceValue) {
    f.capture(() => {
      dice = parseDice(diceValue, spki);
      found.push({
        encoding: "tcg-dice",
        quote: dice.quote,
        binding: createHash("sha256").update(dice.claims).digest(),
      });
    });
  }
  const legacy = ext(cert, GRAMINE_LEGACY_OIDS);
  if (legacy)
    found.push({
      encoding: "gramine-legacy",
      quote: Buffer.from(legacy),
      binding: createHash("sha256").update(spki).digest(),
    });
  const sdk = ext(cert, [INTEL_SGXSDK_QUOTE_OID]);
  if (sdk) {
    // The SDK binds through the DICE claims; its raw quote must be the DICE one.
    const same = dice?.quote.equals(sdk);
    if (!same) f.fail("ratls.binding", "Intel SGX SDK quote has no matching DICE claims to bind it");
    found.push({
      encoding: "intel-sgxsdk",
      quote: Buffer.from(sdk),
      binding: same ? createHash("sha256").update(dice!.claims).digest() : undefined,
    });
  }
  if (found.length === 0 && f.failures.length === 0)
    throw new EvidenceError("ratls.format", "certificate carries no RA-TLS evidence extension");

  const seen = new Set<string>();
  for (const q of found) {
    let verification: IntelVerification;
    try {
      verification = verifyIntelQuote(q.quote, { now: o.now, collateral: o.collateral });
    } catch (e) {
      if (e instanceof EvidenceError) {
        f.fail(e.check, `[${q.encoding}] ${e.message}`);
        continue;
      }
      throw e;
    }
    v.quotes.push({ encoding: q.encoding, quote: q.quote, verification });
    const body = verification.quote.sgx ?? verification.quote.td;
    if (q.binding && body) f.capture(() => bindingOf(body.reportData, q.binding!, q.encoding));
    for (const x of verification.failures) {
      const key = `${x.check}:${x.message}`;
      if (!seen.has(key)) {
        seen.add(key);
        f.failures.push(x);
      }
    }
  }
  return v;
}

export const describeSpki = (c: Cert): string => hex(c.parsed.spki);

/** The quote an RA-TLS certificate's result is based on (DICE, else legacy, else SDK), unverified. */
export function raTlsPrimaryQuote(input: Buffer | string): Buffer | undefined {
  try {
    const [cert] = loadCerts(input, "RA-TLS certificate", "ratls.certificate");
    if (!cert) return undefined;
    const dice = ext(cert, [TCG_DICE_TAGGED_EVIDENCE_OID]);
    if (dice) {
      const top = decodeCbor(dice);
      if (top.type === "tag" && top.value.type === "array" && top.value.value[0]?.type === "bytes")
        return Buffer.from(top.value.value[0].value);
    }
    const raw = ext(cert, GRAMINE_LEGACY_OIDS) ?? ext(cert, [INTEL_SGXSDK_QUOTE_OID]);
    return raw ? Buffer.from(raw) : undefined;
  } catch {
    return undefined;
  }
}
