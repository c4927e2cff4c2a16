// The AMD SEV-SNP attestation report (1184 bytes; versions 2, 3 and 5).
import { must } from "../errors.js";

export const SNP_REPORT_LENGTH = 0x4a0;
export const SNP_SIGNED_LENGTH = 0x2a0;
export const SNP_VERSIONS = [2, 3, 5] as const;

export type SnpProduct = "Milan" | "Genoa" | "Turin";

export interface SnpTcb {
  fmc?: number;
  bootloader: number;
  tee: number;
  snp: number;
  microcode: number;
  raw: Buffer;
}

export interface SnpReport {
  version: number;
  guestSvn: number;
  policy: bigint;
  familyId: Buffer;
  imageId: Buffer;
  vmpl: number;
  signatureAlgo: number;
  currentTcbRaw: Buffer;
  platformInfo: bigint;
  /** 0 VCEK, 1 VLEK, 7 none. */
  signingKey: number;
  maskChipKey: boolean;
  authorKeyEn: boolean;
  reportData: Buffer;
  measurement: Buffer;
  hostData: Buffer;
  idKeyDigest: Buffer;
  authorKeyDigest: Buffer;
  reportId: Buffer;
  reportIdMa: Buffer;
  reportedTcbRaw: Buffer;
  cpuid?: { family: number; model: number; stepping: number };
  chipId: Buffer;
  committedTcbRaw: Buffer;
  launchTcbRaw: Buffer;
  launchMitVector?: bigint;
  currentMitVector?: bigint;
  /** Bytes 0x000–0x29F: what the signature covers. */
  signed: Buffer;
  /** r||s, big-endian, 48 bytes each (for P1363 verification). */
  signatureP1363: Buffer;
}

const slice = (b: Buffer, off: number, len: number) => Buffer.from(b.subarray(off, off + len));

/** Guest policy bits. */
export const SnpPolicy = {
  smt: 1n << 16n,
  migrateMa: 1n << 18n,
  debug: 1n << 19n,
  singleSocket: 1n << 20n,
} as const;

export function parseSnpReport(b: Buffer): SnpReport {
  must(
    b.length === SNP_REPORT_LENGTH,
    "snp.format",
    `an SNP report has ${SNP_REPORT_LENGTH} bytes, got ${b.length}`,
  );
  const version = b.readUInt32LE(0);
  must(
    (SNP_VERSIONS as readonly number[]).includes(version),
    "snp.version",
    `SNP report version ${version} is not supported (2, 3, 5)`,
  );
  const signatureAlgo = b.readUInt32LE(0x34);
  must(signatureAlgo === 1, "snp.format", `signature algorithm ${signatureAlgo} is not ECDSA P-384/SHA-384`);
  const keyInfo = b.readUInt32LE(0x48);
  const le48 = (off: number) => {
    must(
      b.subarray(off + 48, off + 72).every((x) => x === 0),
      "snp.format",
      "signature component exceeds 48 bytes",
    );
    return Buffer.from(b.subarray(off, off + 48)).reverse();
  };
  const r: SnpReport = {
    version,
    guestSvn: b.readUInt32LE(4),
    policy: b.readBigUInt64LE(8),
    familyId: slice(b, 0x10, 16),
    imageId: slice(b, 0x20, 16),
    vmpl: b.readUInt32LE(0x30),
    signatureAlgo,
    currentTcbRaw: slice(b, 0x38, 8),
    platformInfo: b.readBigUInt64LE(0x40),
    signingKey: (keyInfo >> 2) & 7,
    maskChipKey: (keyInfo & 2) !== 0,
    authorKeyEn: (keyInfo & 1) !== 0,
    reportData: slice(b, 0x50, 64),
    measurement: slice(b, 0x90, 48),
    hostData: slice(b, 0xc0, 32),
    idKeyDigest: slice(b, 0xe0, 48),
    authorKeyDigest: slice(b, 0x110, 48),
    reportId: slice(b, 0x140, 32),
    reportIdMa: slice(b, 0x160, 32),
    reportedTcbRaw: slice(b, 0x180, 8),
    chipId: slice(b, 0x1a0, 64),
    committedTcbRaw: slice(b, 0x1e0, 8),
    launchTcbRaw: slice(b, 0x1f0, 8),
    signed: slice(b, 0, SNP_SIGNED_LENGTH),
    signatureP1363: Buffer.concat([le48(0x2a0), le48(0x2e8)]),
  };
  if (version >= 3) r.cpuid = { family: b[0x188]!, model: b[0x189]!, stepping: b[0x18a]! };
  if (version >= 5) {
    r.launchMitVector = b.readBigUInt64LE(0x1f8);
    r.currentMitVector = b.readBigUInt64LE(0x200);
  }
  return r;
}

/** Product from the CPUID fields (v3+); undefined for v2 or unknown parts. */
export function productOf(r: SnpReport): SnpProduct | undefined {
  const c = r.cpuid;
  if (!c) return undefined;
  if (c.family === 0x19 && c.model <= 0x0f) return "Milan";
  if (c.family === 0x19 && ((c.model >= 0x10 && c.model <= 0x1f) || (c.model >= 0xa0 && c.model <= 0xaf)))
    return "Genoa";
  if (c.family === 0x1a && c.model <= 0x1f) return "Turin";
  return undefined;
}

/** TCB_VERSION fields; Turin moved them (FMC first). */
export function decodeTcb(raw: Buffer, product: SnpProduct): SnpTcb {
  if (product === "Turin")
    return { fmc: raw[0]!, bootloader: raw[1]!, tee: raw[2]!, snp: raw[3]!, microcode: raw[7]!, raw };
  return { bootloader: raw[0]!, tee: raw[1]!, snp: raw[6]!, microcode: raw[7]!, raw };
}

/** True when the bytes look like an SNP report (size, known version, ECDSA P-384 algorithm). */
export function looksLikeSnpReport(b: Buffer): boolean {
  return (
    b.length === SNP_REPORT_LENGTH &&
    (SNP_VERSIONS as readonly number[]).includes(b.readUInt32LE(0)) &&
    b.readUInt32LE(0x34) === 1
  );
}
