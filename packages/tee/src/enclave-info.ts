// enclave_info.toml: published enclave identities and the auditors' signatures over
// the file's exact bytes.
import { constants, createPublicKey, generateKeyPair, type KeyObject, sign, verify } from "node:crypto";
import { promisify } from "node:util";
import { AttestationError, ConfigError } from "@cloister/core";
import { parse as parseToml } from "smol-toml";

export interface EnclaveIdentity {
  /** 32 bytes, or 64 hex digits. */
  mrEnclave: Buffer | string;
  /** 32 bytes, or 64 hex digits. */
  mrSigner: Buffer | string;
}

/** Parsed entries: lowercase hex strings. */
export type EnclaveInfo = Record<string, { mrEnclave: string; mrSigner: string }>;

const TABLE_NAME = /^[A-Za-z0-9_-]+$/;
const LOWER_HEX32 = /^[0-9a-f]{64}$/;

function toHex(v: Buffer | string, what: string): string {
  if (Buffer.isBuffer(v)) {
    if (v.length !== 32) throw new ConfigError(`${what} must be 32 bytes`);
    return v.toString("hex");
  }
  const s = String(v).toLowerCase();
  if (!LOWER_HEX32.test(s)) throw new ConfigError(`${what} must be 64 hex digits`);
  return s;
}

/**
 * Renders enclave_info.toml: one table per enclave, sorted by name, lowercase hex, keys laid out
 * as the legacy generator does (`mr_signer` padded to align with `mr_enclave`), a blank line
 * between tables.
 */
export function renderEnclaveInfo(entries: Record<string, EnclaveIdentity>): string {
  return Object.keys(entries)
    .sort()
    .map((name) => {
      if (!TABLE_NAME.test(name)) throw new ConfigError(`invalid enclave name ${JSON.stringify(name)}`);
      const e = entries[name]!;
      return (
        `[${name}]\n` +
        `mr_enclave = "${toHex(e.mrEnclave, `mr_enclave of ${name}`)}"\n` +
        `mr_signer  = "${toHex(e.mrSigner, `mr_signer of ${name}`)}"\n`
      );
    })
    .join("\n");
}

/**
 * Parses enclave_info.toml. Every table must hold exactly `mr_enclave` and `mr_signer` as 64
 * lowercase hex digits (what the legacy clients compare); anything else is a ConfigError.
 */
export function parseEnclaveInfo(text: string | Buffer): EnclaveInfo {
  let doc: Record<string, unknown>;
  try {
    doc = parseToml(typeof text === "string" ? text : text.toString("utf8")) as Record<string, unknown>;
  } catch (e) {
    throw new ConfigError(`enclave_info.toml is not valid TOML: ${(e as Error).message}`);
  }
  const out: EnclaveInfo = {};
  for (const [name, table] of Object.entries(doc)) {
    if (typeof table !== "object" || table === null || Array.isArray(table)) {
      throw new ConfigError(`enclave_info.toml: ${name} is not a table`);
    }
    const t = table as Record<string, unknown>;
    const keys = Object.keys(t).sort();
    if (keys.length !== 2 || keys[0] !== "mr_enclave" || keys[1] !== "mr_signer") {
      throw new ConfigError(`enclave_info.toml: [${name}] must have exactly mr_enclave and mr_signer`);
    }
    for (const k of keys) {
      if (typeof t[k] !== "string" || !LOWER_HEX32.test(t[k] as string)) {
        throw new ConfigError(`enclave_info.toml: [${name}] ${k} must be 64 lowercase hex digits`);
      }
    }
    out[name] = { mrEnclave: t["mr_enclave"] as string, mrSigner: t["mr_signer"] as string };
  }
  return out;
}

/** Policy entries for the named enclaves; throws ConfigError if one is missing. */
export function acceptedFromEnclaveInfo(info: EnclaveInfo, names: readonly string[]) {
  return names.map((name) => {
    const e = info[name];
    if (!e) throw new ConfigError(`enclave_info.toml has no [${name}] table`);
    return { name, mrEnclave: e.mrEnclave, mrSigner: e.mrSigner };
  });
}

// ---------------------------------------------------------------------------------------------
// Auditor signatures

export interface AuditorKeyPair {
  /** PEM `RSA PUBLIC KEY` (PKCS#1), the form compiled into legacy services. */
  publicKeyPem: string;
  /** PEM `PRIVATE KEY` (PKCS#8). Secret. */
  privateKeyPem: string;
}

const generateKeyPairAsync = promisify(generateKeyPair);

/** A new auditor key: RSA 4096 like the legacy demo auditors, unless told otherwise. */
export async function generateAuditorKey(options: { modulusLength?: number } = {}): Promise<AuditorKeyPair> {
  const modulusLength = options.modulusLength ?? 4096;
  if (modulusLength < 2048 || modulusLength > 8192)
    throw new ConfigError("auditor keys must be RSA 2048..8192");
  const { publicKey, privateKey } = await generateKeyPairAsync("rsa", { modulusLength });
  return {
    publicKeyPem: publicKey.export({ format: "pem", type: "pkcs1" }) as string,
    privateKeyPem: privateKey.export({ format: "pem", type: "pkcs8" }) as string,
  };
}

/** Raw RSA PKCS#1 v1.5 SHA-256 signature over the exact bytes (= `openssl dgst -sha256 -sign`). */
export function signEnclaveInfo(bytes: Buffer | string, privateKeyPem: string): Buffer {
  return sign("sha256", Buffer.from(bytes), { key: privateKeyPem, padding: constants.RSA_PKCS1_PADDING });
}

function auditorKey(pem: string, index: number): KeyObject {
  let key: KeyObject;
  try {
    key = createPublicKey(pem);
  } catch {
    throw new ConfigError(`auditor public key ${index} is not a valid PEM public key`);
  }
  const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
  if (key.asymmetricKeyType !== "rsa" || bits < 2048 || bits > 8192) {
    throw new ConfigError(`auditor public key ${index} must be RSA with a 2048..8192-bit modulus`);
  }
  return key;
}

export interface VerifyEnclaveInfoOptions {
  /** Minimum number of signatures; the legacy rule is 0 (no signatures verify vacuously). */
  minSignatures?: number;
}

/**
 * Checks auditor endorsements of enclave_info.toml: at most as many signatures as
 * auditor keys, and every signature valid under at least one key. Throws AttestationError.
 */
export function verifyEnclaveInfoSignatures(
  bytes: Buffer | string,
  signatures: readonly Buffer[],
  publicKeysPem: readonly string[],
  options: VerifyEnclaveInfoOptions = {},
): void {
  const keys = publicKeysPem.map(auditorKey);
  const data = Buffer.from(bytes);
  if (signatures.length > keys.length) {
    throw new AttestationError(
      `enclave info has ${signatures.length} signatures but only ${keys.length} auditor keys`,
    );
  }
  if (signatures.length < (options.minSignatures ?? 0)) {
    throw new AttestationError(`enclave info needs at least ${options.minSignatures} auditor signatures`);
  }
  signatures.forEach((sig, i) => {
    const ok = keys.some((key) => {
      try {
        return verify("sha256", data, { key, padding: constants.RSA_PKCS1_PADDING }, sig);
      } catch {
        return false;
      }
    });
    if (!ok) throw new AttestationError(`enclave info signature ${i} does not verify under any auditor key`);
  });
}
