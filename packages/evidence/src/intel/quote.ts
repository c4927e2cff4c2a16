// Intel ECDSA quotes: SGX v3, SGX/TDX v4 and v5 (header, body, signature data).
import { EvidenceError, must } from "../errors.js";

export const INTEL_QE_VENDOR_ID = Buffer.from("939a7233f79c4ca9940a0db3957f0607", "hex");
export const TEE_TYPE_SGX = 0x00000000;
export const TEE_TYPE_TDX = 0x00000081;
const HEADER = 48;
export const SGX_REPORT_BODY = 384;
const TD10_BODY = 584;
const TD15_BODY = 648;
/** v5 body types and their sizes. */
const BODY_SIZE: Record<number, number> = { 1: SGX_REPORT_BODY, 2: TD10_BODY, 3: TD15_BODY };

export interface SgxReportBody {
  cpuSvn: Buffer;
  miscSelect: number;
  isvExtProdId: Buffer;
  /** 16 bytes: flags u64 LE then XFRM u64 LE. */
  attributes: Buffer;
  debug: boolean;
  mrEnclave: Buffer;
  mrSigner: Buffer;
  configId: Buffer;
  isvProdId: number;
  isvSvn: number;
  configSvn: number;
  isvFamilyId: Buffer;
  reportData: Buffer;
  raw: Buffer;
}

export interface TdReportBody {
  teeTcbSvn: Buffer;
  mrSeam: Buffer;
  mrSignerSeam: Buffer;
  seamAttributes: Buffer;
  tdAttributes: Buffer;
  debug: boolean;
  xfam: Buffer;
  mrTd: Buffer;
  mrConfigId: Buffer;
  mrOwner: Buffer;
  mrOwnerConfig: Buffer;
  rtmr: [Buffer, Buffer, Buffer, Buffer];
  reportData: Buffer;
  /** TD 1.5 only. */
  teeTcbSvn2?: Buffer;
  mrServiceTd?: Buffer;
}

export interface IntelQuote {
  version: 3 | 4 | 5;
  tee: "sgx" | "tdx";
  /** 1 SGX report body, 2 TD report 1.0, 3 TD report 1.5. */
  bodyType: 1 | 2 | 3;
  qeSvn: number;
  pceSvn: number;
  userData: Buffer;
  sgx?: SgxReportBody;
  td?: TdReportBody;
  /** Header and body: what the attestation key signed. */
  signedRegion: Buffer;
  signature: Buffer;
  attestationKey: Buffer;
  qeReport: SgxReportBody;
  qeReportSignature: Buffer;
  qeAuthData: Buffer;
  certificationDataType: number;
  certificationData: Buffer;
  /** Bytes the quote declares (header + body + 4 + signature data); anything after is ignored. */
  length: number;
}

const slice = (b: Buffer, off: number, len: number) => Buffer.from(b.subarray(off, off + len));

export function parseSgxReportBody(b: Buffer): SgxReportBody {
  const attributes = slice(b, 48, 16);
  return {
    cpuSvn: slice(b, 0, 16),
    miscSelect: b.readUInt32LE(16),
    isvExtProdId: slice(b, 32, 16),
    attributes,
    debug: (attributes[0]! & 0x02) !== 0,
    mrEnclave: slice(b, 64, 32),
    mrSigner: slice(b, 128, 32),
    configId: slice(b, 192, 64),
    isvProdId: b.readUInt16LE(256),
    isvSvn: b.readUInt16LE(258),
    configSvn: b.readUInt16LE(260),
    isvFamilyId: slice(b, 304, 16),
    reportData: slice(b, 320, 64),
    raw: slice(b, 0, SGX_REPORT_BODY),
  };
}

function parseTdReportBody(b: Buffer, v15: boolean): TdReportBody {
  const tdAttributes = slice(b, 120, 8);
  const body: TdReportBody = {
    teeTcbSvn: slice(b, 0, 16),
    mrSeam: slice(b, 16, 48),
    mrSignerSeam: slice(b, 64, 48),
    seamAttributes: slice(b, 112, 8),
    tdAttributes,
    debug: (tdAttributes[0]! & 0x01) !== 0,
    xfam: slice(b, 128, 8),
    mrTd: slice(b, 136, 48),
    mrConfigId: slice(b, 184, 48),
    mrOwner: slice(b, 232, 48),
    mrOwnerConfig: slice(b, 280, 48),
    rtmr: [slice(b, 328, 48), slice(b, 376, 48), slice(b, 424, 48), slice(b, 472, 48)],
    reportData: slice(b, 520, 64),
  };
  if (v15) {
    body.teeTcbSvn2 = slice(b, 584, 16);
    body.mrServiceTd = slice(b, 600, 48);
  }
  return body;
}

/** Bounds-checked cursor: every read past the declared data is a parse failure. */
class Cursor {
  constructor(
    private readonly b: Buffer,
    public pos: number,
    private readonly end: number,
  ) {}
  take(n: number, what: string): Buffer {
    must(this.pos + n <= this.end, "quote.format", `${what} runs past the signature data`);
    const out = slice(this.b, this.pos, n);
    this.pos += n;
    return out;
  }
  u16(what: string): number {
    return this.take(2, what).readUInt16LE(0);
  }
  u32(what: string): number {
    return this.take(4, what).readUInt32LE(0);
  }
}

/** Parses an Intel quote. Trailing bytes after the declared signature data are ignored. */
export function parseIntelQuote(q: Buffer): IntelQuote {
  must(q.length >= HEADER + 4, "quote.format", `a quote has at least ${HEADER + 4} bytes, got ${q.length}`);
  const version = q.readUInt16LE(0);
  must(
    version === 3 || version === 4 || version === 5,
    "quote.version",
    `unsupported quote version ${version}`,
  );
  const keyType = q.readUInt16LE(2);
  must(keyType === 2, "quote.key_type", `attestation key type ${keyType} is not ECDSA P-256 (2)`);
  const teeType = version === 3 ? TEE_TYPE_SGX : q.readUInt32LE(4);
  must(
    teeType === TEE_TYPE_SGX || teeType === TEE_TYPE_TDX,
    "quote.tee_type",
    `unknown TEE type 0x${teeType.toString(16)}`,
  );
  must(
    q.subarray(12, 28).equals(INTEL_QE_VENDOR_ID),
    "quote.vendor",
    "QE vendor id is not Intel's quoting enclave",
  );
  let bodyType: 1 | 2 | 3;
  let bodyOffset = HEADER;
  if (version === 5) {
    must(q.length >= HEADER + 6, "quote.format", "v5 quote lacks its body descriptor");
    const t = q.readUInt16LE(HEADER);
    const size = q.readUInt32LE(HEADER + 2);
    must(t in BODY_SIZE, "quote.format", `unknown v5 body type ${t}`);
    must(
      BODY_SIZE[t] === size,
      "quote.format",
      `v5 body type ${t} must be ${BODY_SIZE[t]} bytes, says ${size}`,
    );
    bodyType = t as 1 | 2 | 3;
    bodyOffset = HEADER + 6;
  } else bodyType = teeType === TEE_TYPE_TDX ? 2 : 1;
  must(
    (teeType === TEE_TYPE_SGX) === (bodyType === 1),
    "quote.format",
    "body type does not fit the quote's TEE type",
  );
  const bodySize = BODY_SIZE[bodyType]!;
  const sigLenAt = bodyOffset + bodySize;
  must(q.length >= sigLenAt + 4, "quote.format", "quote is truncated before its signature data");
  const sigLen = q.readUInt32LE(sigLenAt);
  const end = sigLenAt + 4 + sigLen;
  must(
    end <= q.length,
    "quote.format",
    `signature data (${sigLen} bytes) runs past the ${q.length}-byte buffer`,
  );
  const body = q.subarray(bodyOffset, sigLenAt);

  const c = new Cursor(q, sigLenAt + 4, end);
  const signature = c.take(64, "quote signature");
  const attestationKey = c.take(64, "attestation key");
  if (version !== 3) {
    const type = c.u16("certification data type");
    must(type === 6, "quote.format", `v${version} certification data type must be 6, got ${type}`);
    const size = c.u32("certification data size");
    must(c.pos + size <= end, "quote.format", "QE report certification data runs past the signature data");
  }
  const qeReportRaw = c.take(SGX_REPORT_BODY, "QE report");
  const qeReportSignature = c.take(64, "QE report signature");
  const authLen = c.u16("QE authentication data size");
  const qeAuthData = c.take(authLen, "QE authentication data");
  const certificationDataType = c.u16("certification data type");
  const certLen = c.u32("certification data size");
  const certificationData = c.take(certLen, "certification data");

  const out: IntelQuote = {
    version: version as 3 | 4 | 5,
    tee: teeType === TEE_TYPE_TDX ? "tdx" : "sgx",
    bodyType,
    qeSvn: q.readUInt16LE(8),
    pceSvn: q.readUInt16LE(10),
    userData: slice(q, 28, 20),
    signedRegion: slice(q, 0, sigLenAt),
    signature,
    attestationKey,
    qeReport: parseSgxReportBody(qeReportRaw),
    qeReportSignature,
    qeAuthData,
    certificationDataType,
    certificationData,
    length: end,
  };
  if (bodyType === 1) out.sgx = parseSgxReportBody(Buffer.from(body));
  else out.td = parseTdReportBody(Buffer.from(body), bodyType === 3);
  return out;
}

/** True when the bytes start like an Intel quote (version 3–5, key type 2, Intel QE). */
export function looksLikeIntelQuote(b: Buffer): boolean {
  if (b.length < HEADER) return false;
  const v = b.readUInt16LE(0);
  return v >= 3 && v <= 5 && b.readUInt16LE(2) === 2 && b.subarray(12, 28).equals(INTEL_QE_VENDOR_ID);
}

export { EvidenceError };
