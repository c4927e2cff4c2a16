// The 432-byte SGX quote body: a 48-byte quote header followed by the
// 384-byte REPORT body.
import { AttestationError } from "@cloister/core";

export const QUOTE_BODY_LENGTH = 432;

export const QuoteOffset = {
  version: 0,
  keyType: 2,
  reserved: 4,
  qeSvn: 8,
  pceSvn: 10,
  qeVendorId: 12,
  userData: 28,
  cpuSvn: 48,
  miscSelect: 64,
  attributes: 96,
  mrEnclave: 112,
  mrSigner: 176,
  isvProdId: 304,
  isvSvn: 306,
  reportData: 368,
} as const;

/**
 * Marker written into the DCAP header's 20-byte user-data field of every simulated quote. Real
 * quoting enclaves put their own data there; a simulated quote says what it is.
 */
export const SIMULATED_USER_DATA = Buffer.alloc(20);
SIMULATED_USER_DATA.write("CLOISTER-SIMULATED", "ascii");

/**
 * QE vendor id of simulated quotes: the ASCII bytes "CLOISTER-SIM-QE!" (16 bytes). It is not
 * Intel's vendor id (939a7233-f79c-4ca9-940a-0db3957f0607), so nothing mistakes it for a real QE.
 */
export const SIMULATED_QE_VENDOR_ID = Buffer.from("CLOISTER-SIM-QE!", "ascii");

export interface QuoteBodyFields {
  mrEnclave: Buffer;
  mrSigner: Buffer;
  reportData: Buffer;
  isvProdId?: number;
  isvSvn?: number;
}

/**
 * Builds a version-3 (ECDSA/DCAP layout), attestation-key-type-2 quote body carrying the
 * simulation markers. There is no quote signature: nothing here is produced by hardware.
 */
export function buildSimulatedQuoteBody(f: QuoteBodyFields): Buffer {
  if (f.mrEnclave.length !== 32 || f.mrSigner.length !== 32) {
    throw new AttestationError("MRENCLAVE and MRSIGNER must be 32 bytes");
  }
  if (f.reportData.length !== 64) throw new AttestationError("report data must be 64 bytes");
  const q = Buffer.alloc(QUOTE_BODY_LENGTH);
  q.writeUInt16LE(3, QuoteOffset.version);
  q.writeUInt16LE(2, QuoteOffset.keyType);
  SIMULATED_QE_VENDOR_ID.copy(q, QuoteOffset.qeVendorId);
  SIMULATED_USER_DATA.copy(q, QuoteOffset.userData);
  // ATTRIBUTES.flags: INIT (bit 0) and MODE64BIT (bit 2) as a production enclave would have;
  // DEBUG (bit 1) clear.
  q.writeBigUInt64LE(0x5n, QuoteOffset.attributes);
  f.mrEnclave.copy(q, QuoteOffset.mrEnclave);
  f.mrSigner.copy(q, QuoteOffset.mrSigner);
  q.writeUInt16LE(f.isvProdId ?? 0, QuoteOffset.isvProdId);
  q.writeUInt16LE(f.isvSvn ?? 0, QuoteOffset.isvSvn);
  f.reportData.copy(q, QuoteOffset.reportData);
  return q;
}

export interface QuoteBody {
  version: number;
  /** EPID signature type (versions 1/2) or DCAP attestation key type (version 3). */
  keyType: number;
  qeVendorId: Buffer;
  userData: Buffer;
  attributesFlags: bigint;
  mrEnclave: Buffer;
  mrSigner: Buffer;
  isvProdId: number;
  isvSvn: number;
  reportData: Buffer;
  /** True when the header carries the Cloister simulation marker. */
  simulated: boolean;
}

/** Parses and validates a quote body with the header rules of the legacy Rust verifier. */
export function parseQuoteBody(body: Buffer): QuoteBody {
  if (body.length !== QUOTE_BODY_LENGTH) {
    throw new AttestationError(`quote body must be ${QUOTE_BODY_LENGTH} bytes, got ${body.length}`);
  }
  const version = body.readUInt16LE(QuoteOffset.version);
  const keyType = body.readUInt16LE(QuoteOffset.keyType);
  if (version === 1 || version === 2) {
    if (keyType !== 0 && keyType !== 1)
      throw new AttestationError(`unknown EPID quote signature type ${keyType}`);
  } else if (version === 3) {
    if (keyType !== 2 && keyType !== 3)
      throw new AttestationError(`unknown DCAP attestation key type ${keyType}`);
  } else {
    throw new AttestationError(`unsupported quote version ${version}`);
  }
  const userData = Buffer.from(body.subarray(QuoteOffset.userData, QuoteOffset.userData + 20));
  return {
    version,
    keyType,
    qeVendorId: Buffer.from(body.subarray(QuoteOffset.qeVendorId, QuoteOffset.qeVendorId + 16)),
    userData,
    attributesFlags: body.readBigUInt64LE(QuoteOffset.attributes),
    mrEnclave: Buffer.from(body.subarray(QuoteOffset.mrEnclave, QuoteOffset.mrEnclave + 32)),
    mrSigner: Buffer.from(body.subarray(QuoteOffset.mrSigner, QuoteOffset.mrSigner + 32)),
    isvProdId: body.readUInt16LE(QuoteOffset.isvProdId),
    isvSvn: body.readUInt16LE(QuoteOffset.isvSvn),
    reportData: Buffer.from(body.subarray(QuoteOffset.reportData, QuoteOffset.reportData + 64)),
    simulated: version === 3 && userData.equals(SIMULATED_USER_DATA),
  };
}
