// The certificate table a guest gets beside its SNP report (GHCB MSG_REPORT_REQ; configfs-tsm
// `auxblob`): GUID-indexed entries pointing into the same buffer. Cloister carries SNP
// evidence as the 1184-byte report followed by this table, so the VCEK travels with it.
import { EvidenceError } from "../errors.js";

export const CERT_TABLE_GUID = {
  vcek: "63da758d-e664-4564-adc5-f4b93be8accd",
  vlek: "a8074bc2-a25a-483e-aae6-39c045a0b8a1",
  ask: "4ab7b379-bbac-4fe4-a02f-05aef327c782",
  ark: "c0b406a4-a803-4952-9743-3fb6014cd0ae",
} as const;

/** GUID text → its 16 bytes in the mixed-endian layout UEFI and the GHCB use. */
export function guidBytes(guid: string): Buffer {
  const h = guid.replace(/-/g, "");
  if (!/^[0-9a-f]{32}$/i.test(h)) throw new EvidenceError("snp.cert_table", `bad GUID ${guid}`);
  const b = Buffer.from(h, "hex");
  return Buffer.concat([
    Buffer.from(b.subarray(0, 4)).reverse(),
    Buffer.from(b.subarray(4, 6)).reverse(),
    Buffer.from(b.subarray(6, 8)).reverse(),
    b.subarray(8),
  ]);
}

export type CertTable = Partial<Record<keyof typeof CERT_TABLE_GUID, Buffer>>;

const MAX_ENTRIES = 64;

export function parseCertTable(t: Buffer): CertTable {
  const out: CertTable = {};
  const names = Object.entries(CERT_TABLE_GUID).map(([k, g]) => [k, guidBytes(g)] as const);
  for (let i = 0; i < MAX_ENTRIES; i++) {
    const at = i * 24;
    if (at + 24 > t.length)
      throw new EvidenceError("snp.cert_table", "certificate table has no terminating entry");
    const guid = t.subarray(at, at + 16);
    const off = t.readUInt32LE(at + 16);
    const len = t.readUInt32LE(at + 20);
    if (guid.every((x) => x === 0)) return out;
    if (off + len > t.length || off < at + 24)
      throw new EvidenceError("snp.cert_table", "certificate table entry points outside the table");
    const name = names.find(([, g]) => g.equals(guid))?.[0];
    if (name) out[name as keyof CertTable] = Buffer.from(t.subarray(off, off + len));
  }
  throw new EvidenceError("snp.cert_table", "certificate table has too many entries");
}

/** Builds a table (tests, and the tsm provider when the host supplies certificates separately). */
export function buildCertTable(certs: CertTable): Buffer {
  const entries = Object.entries(certs).filter(([, v]) => v) as [keyof typeof CERT_TABLE_GUID, Buffer][];
  const head = Buffer.alloc((entries.length + 1) * 24);
  let off = head.length;
  entries.forEach(([k, v], i) => {
    guidBytes(CERT_TABLE_GUID[k]).copy(head, i * 24);
    head.writeUInt32LE(off, i * 24 + 16);
    head.writeUInt32LE(v.length, i * 24 + 20);
    off += v.length;
  });
  return Buffer.concat([head, ...entries.map(([, v]) => v)]);
}
