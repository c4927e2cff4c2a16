// The SGX extension (1.2.840.113741.1.13.1) of a PCK certificate: the platform's TCB, PCE-ID
// and FMSPC as Intel certified them.
import { der } from "@cloister/tee";
import { EvidenceError } from "../errors.js";
import { type Cert, extension } from "../x509.js";

export const SGX_EXTENSION_OID = "1.2.840.113741.1.13.1";

export interface PckExtension {
  ppid?: Buffer;
  /** SGX TCB component SVNs 1–16. */
  compSvn: number[];
  pceSvn: number;
  cpuSvn: Buffer;
  pceId: Buffer;
  fmspc: Buffer;
  sgxType: number;
}

const { Tag, children, parseOne, decodeOid, decodeSmallInteger } = der;

export function parsePckExtension(pck: Cert): PckExtension {
  const value = extension(pck, SGX_EXTENSION_OID);
  if (!value) throw new EvidenceError("pck.extension", "PCK certificate has no SGX extension");
  try {
    const out: Partial<PckExtension> = {};
    const r = children(parseOne(value));
    while (!r.done) {
      const item = children(r.expect(Tag.SEQUENCE, "SGX extension item"));
      const id = decodeOid(item.expect(Tag.OID, "item id").content);
      const v = item.any();
      const sub = id.slice(SGX_EXTENSION_OID.length + 1);
      if (sub === "1") out.ppid = Buffer.from(v.content);
      else if (sub === "2") {
        const comp: number[] = new Array(16).fill(-1);
        const t = children(v);
        while (!t.done) {
          const e = children(t.expect(Tag.SEQUENCE, "TCB item"));
          const tid = decodeOid(e.expect(Tag.OID, "TCB item id").content).split(".").pop()!;
          const tv = e.any();
          const n = Number(tid);
          if (n >= 1 && n <= 16) comp[n - 1] = decodeSmallInteger(tv.content);
          else if (n === 17) out.pceSvn = decodeSmallInteger(tv.content);
          else if (n === 18) out.cpuSvn = Buffer.from(tv.content);
        }
        if (comp.some((x) => x < 0)) throw new Error("TCB lacks a component SVN");
        out.compSvn = comp;
      } else if (sub === "3") out.pceId = Buffer.from(v.content);
      else if (sub === "4") out.fmspc = Buffer.from(v.content);
      else if (sub === "5") out.sgxType = decodeSmallInteger(v.content);
    }
    if (!out.compSvn || out.pceSvn === undefined || !out.pceId || !out.fmspc)
      throw new Error("TCB, PCE-ID or FMSPC missing");
    if (out.pceId.length !== 2 || out.fmspc.length !== 6)
      throw new Error("PCE-ID or FMSPC has the wrong size");
    return { sgxType: 0, cpuSvn: Buffer.alloc(16), ...out } as PckExtension;
  } catch (e) {
    throw new EvidenceError("pck.extension", `PCK SGX extension is malformed: ${(e as Error).message}`);
  }
}
