// Synchronous verification of a peer's attested certificate (spec §6 and §7), usable from TLS
// hooks. Every check of both legacy verifiers is applied; the stricter one wins.
import { constants, createHash, type KeyObject, verify } from "node:crypto";
import { AttestationError, ConfigError } from "@cloister/core";
import { parseAttestedCertificate } from "./attested-cert.js";
import { type TrustAnchor, trustAnchorFrom, validateSigningChain } from "./chain.js";
import { teaclaveQuoteBody } from "./hardware.js";
import { parseQuoteBody } from "./quote.js";
import { DEFAULT_ACCEPTED_STATUSES, decodePayload, KNOWN_QUOTE_STATUSES, parseReport } from "./report.js";
import { publicKeyOf, toCertificateDer } from "./x509.js";

export interface AcceptedEnclave {
  /** Name reported back on success, e.g. `teaclave_frontend_service`. */
  name: string;
  /** 32 bytes, or 64 hex digits. */
  mrEnclave: Buffer | string;
  /** 32 bytes, or 64 hex digits. */
  mrSigner: Buffer | string;
}

/**
 * What a verifier accepts. Treat a policy object as immutable once used: compiled forms are
 * cached per object.
 */
export interface AttestationPolicy {
  /** The attestation service root CA (the single trust anchor), DER or PEM. */
  asRootCa: Buffer | string;
  /** Enclaves whose (MRSIGNER, MRENCLAVE) pair is accepted. */
  accepted: AcceptedEnclave[];
  /**
   * Accepted quote statuses; default `["OK"]`. Unknown statuses are always rejected. The legacy
   * default was every known status (`LEGACY_ACCEPTED_STATUSES`), including revoked ones.
   */
  acceptedStatuses?: string[];
  /** Verification time (chain validity, report freshness); default: the current time. */
  now?: Date;
  /** Reject evidence marked as simulated even if it verifies (default false). */
  rejectSimulated?: boolean;
  /**
   * Re-verifies the hardware evidence a verifying attestation service embedded in its report
   * (e.g. with @cloister/evidence); throw to reject. Called with the verification time.
   */
  verifyHardwareEvidence?: (evidence: Buffer, now: Date) => void;
}

export interface VerifiedPeer {
  /** Name of the matching `accepted` entry. */
  name: string;
  /** Lowercase hex. */
  mrEnclave: string;
  /** Lowercase hex. */
  mrSigner: string;
  quoteStatus: string;
  /** True when the evidence was produced by a simulated TEE (no hardware guarantee). */
  simulated: boolean;
  /** Report timestamp. */
  timestamp: Date;
  /** 65-byte uncompressed P-256 point of the certificate key. */
  publicKey: Buffer;
  /** `simulated`, or the hardware TEE whose evidence the attestation service verified. */
  tee: "simulated" | "sgx" | "tdx" | "sev-snp" | "unknown";
  /** Intel TCB status the attestation service derived (null: none, e.g. SEV-SNP or simulated). */
  tcbStatus: string | null;
  /** The TEE's own measurements (hex) as reported, e.g. MRTD and RTMRs. */
  teeMeasurements?: Record<string, unknown>;
  /** The hardware evidence itself, when the report carries it. */
  evidence?: Buffer;
}

export interface CompiledPolicy {
  id: string;
  anchor: TrustAnchor;
  accepted: Map<string, string>;
  statuses: Set<string>;
  now?: Date;
  rejectSimulated: boolean;
}

const HEX32 = /^[0-9a-fA-F]{64}$/;

function hex32(v: Buffer | string, what: string): string {
  if (Buffer.isBuffer(v)) {
    if (v.length !== 32) throw new ConfigError(`${what} must be 32 bytes`);
    return v.toString("hex");
  }
  if (typeof v !== "string" || !HEX32.test(v)) throw new ConfigError(`${what} must be 64 hex digits`);
  return v.toLowerCase();
}

const compiled = new WeakMap<AttestationPolicy, CompiledPolicy>();
const hookIds = new WeakMap<object, number>();
let nextHookId = 1;
/** Cached results depend on the evidence hook too: each hook function gets its own id. */
function hookId(f: object): number {
  const known = hookIds.get(f);
  if (known !== undefined) return known;
  const id = nextHookId++;
  hookIds.set(f, id);
  return id;
}

/** Validates a policy and prepares it for verification; throws ConfigError when unusable. */
export function compilePolicy(policy: AttestationPolicy): CompiledPolicy {
  const hit = compiled.get(policy);
  if (hit) return hit;
  let rootDer: Buffer;
  let anchor: TrustAnchor;
  try {
    rootDer = toCertificateDer(policy.asRootCa);
    anchor = trustAnchorFrom(rootDer);
  } catch (e) {
    throw new ConfigError(`attestation policy root CA is unusable: ${(e as Error).message}`);
  }
  if (!Array.isArray(policy.accepted)) throw new ConfigError("attestation policy needs an accepted list");
  const accepted = new Map<string, string>();
  for (const a of policy.accepted) {
    const key = `${hex32(a.mrSigner, `mrSigner of ${a.name}`)}:${hex32(a.mrEnclave, `mrEnclave of ${a.name}`)}`;
    if (!accepted.has(key)) accepted.set(key, a.name);
  }
  const statuses = new Set(policy.acceptedStatuses ?? DEFAULT_ACCEPTED_STATUSES);
  for (const s of statuses) {
    if (!(KNOWN_QUOTE_STATUSES as readonly string[]).includes(s)) {
      throw new ConfigError(`attestation policy accepts unknown quote status ${s}`);
    }
  }
  if (policy.now !== undefined && Number.isNaN(policy.now.getTime()))
    throw new ConfigError("policy.now is invalid");
  const id = createHash("sha256")
    .update(rootDer)
    .update(
      JSON.stringify([
        [...accepted].sort(),
        [...statuses].sort(),
        policy.now?.getTime() ?? null,
        policy.verifyHardwareEvidence ? hookId(policy.verifyHardwareEvidence) : null,
        !!policy.rejectSimulated,
      ]),
    )
    .digest("hex");
  const c: CompiledPolicy = { id, anchor, accepted, statuses, rejectSimulated: !!policy.rejectSimulated };
  if (policy.now) c.now = new Date(policy.now.getTime());
  compiled.set(policy, c);
  return c;
}

interface CacheEntry {
  peer: VerifiedPeer;
  /** Earliest notAfter in the validated chain: the result is stale after it. */
  validUntil: number;
}

const CACHE_CAPACITY = 1024;
const cache = new Map<string, CacheEntry>();

const copyPeer = (p: VerifiedPeer): VerifiedPeer => ({
  ...p,
  ...(p.evidence ? { evidence: Buffer.from(p.evidence) } : {}),
  timestamp: new Date(p.timestamp),
  publicKey: Buffer.from(p.publicKey),
});

/** Forgets all cached verification results (e.g. after rotating trust material). */
export function clearVerificationCache(): void {
  cache.clear();
}

export interface VerifyEvidenceResult {
  peer: VerifiedPeer;
  validUntil: number;
}

/**
 * Verifies the extension payload of an attested certificate against the certificate key
 * (`publicKey`, the 65-byte point) — everything after the certificate's own structure.
 * Exposed separately so the evidence checks can be exercised on their own.
 */
export function verifyAttestationEvidence(
  payload: Buffer,
  publicKey: Buffer,
  policy: AttestationPolicy,
): VerifyEvidenceResult {
  const p = compilePolicy(policy);
  const now = p.now ?? new Date();
  const { report, signature, certs } = decodePayload(payload);

  const chain = validateSigningChain(certs, p.anchor, now);
  const signingKey: KeyObject = publicKeyOf(chain[0]!);
  if (signingKey.asymmetricKeyType !== "rsa") {
    throw new AttestationError("report signing key must be RSA (PKCS#1 v1.5 SHA-256)");
  }
  const bits = signingKey.asymmetricKeyDetails?.modulusLength ?? 0;
  if (bits < 2048 || bits > 8192)
    throw new AttestationError(`report signing key size ${bits} is outside 2048..8192`);
  let sigOk = false;
  try {
    sigOk = verify("sha256", report, { key: signingKey, padding: constants.RSA_PKCS1_PADDING }, signature);
  } catch {
    sigOk = false;
  }
  if (!sigOk) throw new AttestationError("attestation report signature does not verify");

  const r = parseReport(report);
  if (Math.trunc((now.getTime() - r.timestamp.getTime()) / 1000) < 0) {
    throw new AttestationError("attestation report timestamp is in the future");
  }
  if (!(KNOWN_QUOTE_STATUSES as readonly string[]).includes(r.status)) {
    throw new AttestationError(`unknown quote status ${JSON.stringify(r.status.slice(0, 64))}`);
  }
  const quote = parseQuoteBody(r.quoteBody);
  if (publicKey.length !== 65 || publicKey[0] !== 0x04) {
    throw new AttestationError("certificate public key is not an uncompressed point");
  }
  if (!publicKey.subarray(1).equals(quote.reportData)) {
    throw new AttestationError("certificate public key does not match the report data in the quote");
  }
  const mrEnclave = quote.mrEnclave.toString("hex");
  const mrSigner = quote.mrSigner.toString("hex");
  const name = p.accepted.get(`${mrSigner}:${mrEnclave}`);
  if (name === undefined) {
    throw new AttestationError(
      `enclave measurement not accepted (mr_enclave ${mrEnclave}, mr_signer ${mrSigner})`,
    );
  }
  if (!p.statuses.has(r.status))
    throw new AttestationError(`quote status ${r.status} is not accepted by policy`);
  const simulated = r.simulatedMarker || quote.simulated;
  if (simulated && p.rejectSimulated)
    throw new AttestationError("simulated attestation evidence is not accepted");
  const hw = simulated ? undefined : r.hardware;
  if (hw) {
    // The signed body must be the one derived from the embedded evidence, so the evidence
    // binds the same key and identity.
    let derived: Buffer;
    try {
      derived = teaclaveQuoteBody(hw.evidence);
    } catch {
      throw new AttestationError("embedded hardware evidence is not SGX, TDX or SEV-SNP evidence");
    }
    if (!derived.equals(r.quoteBody))
      throw new AttestationError("embedded hardware evidence does not match the report's quote body");
    policy.verifyHardwareEvidence?.(hw.evidence, now);
  }

  const validUntil = Math.min(...chain.map((c) => c.notAfter.getTime()));
  return {
    peer: {
      name,
      mrEnclave,
      mrSigner,
      quoteStatus: r.status,
      simulated,
      timestamp: r.timestamp,
      publicKey: Buffer.from(publicKey),
      tee: simulated ? "simulated" : (hw?.tee ?? "unknown"),
      tcbStatus: hw?.tcbStatus ?? null,
      ...(hw ? { teeMeasurements: hw.measurements, evidence: hw.evidence } : {}),
    },
    validUntil,
  };
}

/**
 * Verifies a peer's attested certificate (DER) against `policy`. Synchronous; throws
 * AttestationError (evidence rejected) or ConfigError (policy unusable). Successful results are
 * cached by certificate fingerprint and policy for as long as the signing chain stays valid.
 */
export function verifyAttestedCertificate(der: Buffer, policy: AttestationPolicy): VerifiedPeer {
  const p = compilePolicy(policy);
  const key = `${createHash("sha256").update(der).digest("hex")}:${p.id}`;
  const now = (p.now ?? new Date()).getTime();
  const hit = cache.get(key);
  if (hit) {
    cache.delete(key);
    if (now <= hit.validUntil) {
      cache.set(key, hit);
      return copyPeer(hit.peer);
    }
  }
  // The self-signature is deliberately not checked: certificates from legacy Teaclave services
  // carry a malformed signature (their BIT STRING lacks the SEQUENCE tag), and neither legacy
  // verifier checks it. It proves nothing here anyway: the key is bound by REPORTDATA and the
  // TLS handshake proves possession of the private key.
  const cert = parseAttestedCertificate(der);
  const { peer, validUntil } = verifyAttestationEvidence(cert.payload, cert.publicKey, policy);
  cache.set(key, { peer: copyPeer(peer), validUntil });
  if (cache.size > CACHE_CAPACITY) cache.delete(cache.keys().next().value!);
  return peer;
}
