// How hardware evidence maps onto the Teaclave identity (the 432-byte SGX quote body of spec
// §5 that legacy clients check): SGX quotes carry it directly; TDX quotes and SEV-SNP reports
// have no MRENCLAVE/MRSIGNER, so Cloister derives both from the launch measurements, always
// the same way (docs/evidence.md, "Teaclave identity of TDX and SEV-SNP evidence").
import { createHash } from "node:crypto";
import { AttestationError } from "@cloister/core";
import { QUOTE_BODY_LENGTH, QuoteOffset } from "./quote.js";

export type HardwareTee = "sgx" | "tdx" | "sev-snp";

export interface TeaclaveIdentity {
  tee: HardwareTee;
  mrEnclave: Buffer;
  mrSigner: Buffer;
  reportData: Buffer;
}

const INTEL_QE = Buffer.from("939a7233f79c4ca9940a0db3957f0607", "hex");
const SNP_LENGTH = 0x4a0;
const sha256 = (...parts: Buffer[]) => {
  const h = createHash("sha256");
  for (const p of parts) h.update(p);
  return h.digest();
};

/** Where the report body starts, and whether it is TDX, for an Intel quote. */
function intelBody(q: Buffer): { at: number; tdx: boolean } | undefined {
  if (q.length < 56 || !q.subarray(12, 28).equals(INTEL_QE)) return undefined;
  const v = q.readUInt16LE(0);
  if (v === 3) return { at: 48, tdx: false };
  if (v === 4) return { at: 48, tdx: q.readUInt32LE(4) === 0x81 };
  if (v === 5) return { at: 54, tdx: q.readUInt16LE(48) !== 1 };
  return undefined;
}

export function hardwareTeeOf(evidence: Buffer): HardwareTee | undefined {
  const b = intelBody(evidence);
  if (b) return b.tdx ? "tdx" : "sgx";
  if (
    evidence.length >= SNP_LENGTH &&
    [2, 3, 5].includes(evidence.readUInt32LE(0)) &&
    evidence.readUInt32LE(0x34) === 1
  )
    return "sev-snp";
  return undefined;
}

/** MRENCLAVE, MRSIGNER and REPORTDATA of hardware evidence as a Teaclave client sees them. */
export function teaclaveIdentityOf(evidence: Buffer): TeaclaveIdentity {
  const b = intelBody(evidence);
  const s = (off: number, len: number) => {
    if (off + len > evidence.length) throw new AttestationError("hardware evidence is truncated");
    return Buffer.from(evidence.subarray(off, off + len));
  };
  if (b && !b.tdx)
    return {
      tee: "sgx",
      mrEnclave: s(b.at + 64, 32),
      mrSigner: s(b.at + 128, 32),
      reportData: s(b.at + 320, 64),
    };
  if (b) {
    const t = b.at;
    return {
      tee: "tdx",
      // MRTD and the boot-time RTMRs identify the TD's code; RTMR3 is left to the workload.
      mrEnclave: sha256(s(t + 136, 48), s(t + 328, 48), s(t + 376, 48), s(t + 424, 48)),
      mrSigner: sha256(s(t + 232, 48), s(t + 184, 48)),
      reportData: s(t + 520, 64),
    };
  }
  if (hardwareTeeOf(evidence) === "sev-snp")
    return {
      tee: "sev-snp",
      mrEnclave: sha256(s(0x90, 48), s(0xc0, 32)),
      mrSigner: sha256(s(0xe0, 48), s(0x110, 48)),
      reportData: s(0x50, 64),
    };
  throw new AttestationError("not SGX, TDX or SEV-SNP evidence");
}

/** User-data marker of bodies Cloister derives from TDX / SEV-SNP evidence (never an SGX quote's). */
export const DERIVED_BODY_MARKER: Record<"tdx" | "sev-snp", Buffer> = {
  tdx: Buffer.from("CLOISTER-TDX-DERIVED".padEnd(20, "\0"), "ascii"),
  "sev-snp": Buffer.from("CLOISTER-SNP-DERIVED".padEnd(20, "\0"), "ascii"),
};

/**
 * The 432-byte body a Teaclave client checks: an SGX quote's own first 432 bytes (v3), or a
 * version-3 body built from the derived identity, marked in its user-data field.
 */
export function teaclaveQuoteBody(evidence: Buffer): Buffer {
  const id = teaclaveIdentityOf(evidence);
  if (id.tee === "sgx" && evidence.readUInt16LE(0) === 3)
    return Buffer.from(evidence.subarray(0, QUOTE_BODY_LENGTH));
  const q = Buffer.alloc(QUOTE_BODY_LENGTH);
  q.writeUInt16LE(3, QuoteOffset.version);
  q.writeUInt16LE(2, QuoteOffset.keyType);
  if (id.tee === "sgx") {
    // SGX body inside a v4/v5 container: same report body, v3 header.
    const b = intelBody(evidence)!;
    evidence.copy(q, 12, 12, 28);
    evidence.copy(q, 48, b.at, b.at + 384);
    return q;
  }
  DERIVED_BODY_MARKER[id.tee].copy(q, QuoteOffset.userData);
  q.writeBigUInt64LE(0x5n, QuoteOffset.attributes);
  id.mrEnclave.copy(q, QuoteOffset.mrEnclave);
  id.mrSigner.copy(q, QuoteOffset.mrSigner);
  id.reportData.copy(q, QuoteOffset.reportData);
  return q;
}
