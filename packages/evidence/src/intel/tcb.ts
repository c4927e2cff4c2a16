// TCB Info and QE Identity (Intel PCS v3/v2 structures) and the derivation of a TCB status from
// them: QE identity level, platform level (SGX), TDX level and module identity, and the merges.
import { fromHex, parseTime } from "../bytes.js";
import { EvidenceError } from "../errors.js";

export type TcbStatus =
  | "UpToDate"
  | "SWHardeningNeeded"
  | "ConfigurationNeeded"
  | "ConfigurationAndSWHardeningNeeded"
  | "OutOfDate"
  | "OutOfDateConfigurationNeeded"
  | "TDRelaunchAdvised"
  | "TDRelaunchAdvisedConfigurationNeeded"
  | "Revoked"
  | "NotSupported";

export const TCB_STATUSES: readonly TcbStatus[] = [
  "UpToDate",
  "SWHardeningNeeded",
  "ConfigurationNeeded",
  "ConfigurationAndSWHardeningNeeded",
  "OutOfDate",
  "OutOfDateConfigurationNeeded",
  "TDRelaunchAdvised",
  "TDRelaunchAdvisedConfigurationNeeded",
  "Revoked",
  "NotSupported",
];

export interface TcbLevel {
  sgx: number[];
  pceSvn: number;
  tdx?: number[];
  date: string;
  status: TcbStatus;
  advisoryIds: string[];
}

export interface ModuleIdentity {
  id: string;
  mrSigner: Buffer;
  attributes: Buffer;
  attributesMask: Buffer;
  levels: { isvSvn: number; status: TcbStatus; date: string; advisoryIds: string[] }[];
}

export interface TcbInfo {
  id: string;
  version: number;
  issueDate: Date;
  nextUpdate: Date;
  fmspc: string;
  pceId: string;
  tcbType: number;
  evaluationDataNumber: number;
  levels: TcbLevel[];
  tdxModule?: { mrSigner: Buffer; attributes: Buffer; attributesMask: Buffer };
  moduleIdentities: ModuleIdentity[];
}

export interface QeIdentity {
  id: string;
  version: number;
  issueDate: Date;
  nextUpdate: Date;
  evaluationDataNumber: number;
  miscSelect: Buffer;
  miscSelectMask: Buffer;
  attributes: Buffer;
  attributesMask: Buffer;
  mrSigner: Buffer;
  isvProdId: number;
  levels: { isvSvn: number; status: TcbStatus; date: string; advisoryIds: string[] }[];
}

const bad = (what: string, m: string) => new EvidenceError(`${what}.format`, m);
type J = Record<string, unknown>;
const obj = (v: unknown, what: string, field: string): J => {
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw bad(what, `${field} is not an object`);
  return v as J;
};
const int = (v: unknown, what: string, field: string): number => {
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0) throw bad(what, `${field} is not an integer`);
  return v;
};
const str = (v: unknown, what: string, field: string): string => {
  if (typeof v !== "string") throw bad(what, `${field} is not a string`);
  return v;
};
const arr = (v: unknown, what: string, field: string): unknown[] => {
  if (!Array.isArray(v)) throw bad(what, `${field} is not an array`);
  return v;
};
const status = (v: unknown, what: string): TcbStatus => {
  const s = str(v, what, "tcbStatus");
  if (!(TCB_STATUSES as readonly string[]).includes(s))
    throw bad(what, `unknown tcbStatus ${s.slice(0, 40)}`);
  return s as TcbStatus;
};
const advisories = (v: unknown, what: string): string[] =>
  v === undefined ? [] : arr(v, what, "advisoryIDs").map((a) => str(a, what, "advisoryIDs[]"));
const components = (v: unknown, what: string): number[] => {
  const a = arr(v, what, "tcb components");
  if (a.length !== 16) throw bad(what, "a TCB has 16 components");
  return a.map((c) => int(obj(c, what, "component")["svn"], what, "svn"));
};

function parseJson(text: string, what: string): J {
  try {
    return obj(JSON.parse(text), what, what);
  } catch (e) {
    if (e instanceof EvidenceError) throw e;
    throw bad(what, "not JSON");
  }
}

const isvLevels = (v: unknown, what: string) =>
  arr(v, what, "tcbLevels").map((l) => {
    const o = obj(l, what, "tcbLevel");
    return {
      isvSvn: int(obj(o["tcb"], what, "tcb")["isvsvn"], what, "isvsvn"),
      status: status(o["tcbStatus"], what),
      date: str(o["tcbDate"], what, "tcbDate"),
      advisoryIds: advisories(o["advisoryIDs"], what),
    };
  });

export function parseTcbInfo(text: string): TcbInfo {
  const w = "tcb_info";
  const j = parseJson(text, w);
  const version = int(j["version"], w, "version");
  if (version !== 2 && version !== 3) throw bad(w, `unsupported TCB Info version ${version}`);
  const levels = arr(j["tcbLevels"], w, "tcbLevels").map((l): TcbLevel => {
    const o = obj(l, w, "tcbLevel");
    const tcb = obj(o["tcb"], w, "tcb");
    let sgx: number[];
    let tdx: number[] | undefined;
    if (version === 3) {
      sgx = components(tcb["sgxtcbcomponents"], w);
      if (tcb["tdxtcbcomponents"] !== undefined) tdx = components(tcb["tdxtcbcomponents"], w);
    } else {
      sgx = Array.from({ length: 16 }, (_, i) =>
        int(tcb[`sgxtcbcomp${String(i + 1).padStart(2, "0")}svn`], w, "sgxtcbcompNNsvn"),
      );
    }
    const level: TcbLevel = {
      sgx,
      pceSvn: int(tcb["pcesvn"], w, "pcesvn"),
      date: str(o["tcbDate"], w, "tcbDate"),
      status: status(o["tcbStatus"], w),
      advisoryIds: advisories(o["advisoryIDs"], w),
    };
    if (tdx) level.tdx = tdx;
    return level;
  });
  const info: TcbInfo = {
    id: version === 3 ? str(j["id"], w, "id") : "SGX",
    version,
    issueDate: parseTime(j["issueDate"], "tcbInfo.issueDate"),
    nextUpdate: parseTime(j["nextUpdate"], "tcbInfo.nextUpdate"),
    fmspc: str(j["fmspc"], w, "fmspc").toLowerCase(),
    pceId: str(j["pceId"], w, "pceId").toLowerCase(),
    tcbType: int(j["tcbType"] ?? 0, w, "tcbType"),
    evaluationDataNumber: int(j["tcbEvaluationDataNumber"], w, "tcbEvaluationDataNumber"),
    levels,
    moduleIdentities: [],
  };
  if (j["tdxModule"] !== undefined) {
    const m = obj(j["tdxModule"], w, "tdxModule");
    info.tdxModule = {
      mrSigner: fromHex(m["mrsigner"], "tdxModule.mrsigner", 48),
      attributes: fromHex(m["attributes"], "tdxModule.attributes", 8),
      attributesMask: fromHex(m["attributesMask"], "tdxModule.attributesMask", 8),
    };
  }
  if (j["tdxModuleIdentities"] !== undefined) {
    info.moduleIdentities = arr(j["tdxModuleIdentities"], w, "tdxModuleIdentities").map((x) => {
      const m = obj(x, w, "tdxModuleIdentity");
      return {
        id: str(m["id"], w, "id"),
        mrSigner: fromHex(m["mrsigner"], "module mrsigner", 48),
        attributes: fromHex(m["attributes"], "module attributes", 8),
        attributesMask: fromHex(m["attributesMask"], "module attributesMask", 8),
        levels: isvLevels(m["tcbLevels"], w),
      };
    });
  }
  return info;
}

export function parseQeIdentity(text: string): QeIdentity {
  const w = "qe_identity";
  const j = parseJson(text, w);
  const version = int(j["version"], w, "version");
  if (version !== 2) throw bad(w, `unsupported QE Identity version ${version}`);
  return {
    id: str(j["id"], w, "id"),
    version,
    issueDate: parseTime(j["issueDate"], "enclaveIdentity.issueDate"),
    nextUpdate: parseTime(j["nextUpdate"], "enclaveIdentity.nextUpdate"),
    evaluationDataNumber: int(j["tcbEvaluationDataNumber"], w, "tcbEvaluationDataNumber"),
    miscSelect: fromHex(j["miscselect"], "miscselect", 4),
    miscSelectMask: fromHex(j["miscselectMask"], "miscselectMask", 4),
    attributes: fromHex(j["attributes"], "attributes", 16),
    attributesMask: fromHex(j["attributesMask"], "attributesMask", 16),
    mrSigner: fromHex(j["mrsigner"], "mrsigner", 32),
    isvProdId: int(j["isvprodid"], w, "isvprodid"),
    levels: isvLevels(j["tcbLevels"], w),
  };
}

// ---------------------------------------------------------------------------------------------
// Status derivation

export const maskedEqual = (value: Buffer, mask: Buffer, expected: Buffer): boolean =>
  value.length === mask.length &&
  mask.length === expected.length &&
  value.every((b, i) => (b & mask[i]!) === expected[i]);

/** First QE Identity level whose ISVSVN ≤ the QE's; undefined = the QE's TCB is not supported. */
export function qeLevel(qe: QeIdentity, isvSvn: number) {
  return qe.levels.find((l) => l.isvSvn <= isvSvn);
}

const sgxLevelMatches = (l: TcbLevel, comp: number[], pceSvn: number): boolean =>
  l.sgx.every((svn, i) => comp[i]! >= svn) && pceSvn >= l.pceSvn;

/** SGX platform level: the first level the PCK's TCB is at or above. */
export function sgxPlatformLevel(info: TcbInfo, comp: number[], pceSvn: number): TcbLevel | undefined {
  return info.levels.find((l) => sgxLevelMatches(l, comp, pceSvn));
}

export interface TdxLevels {
  sgxLevel?: TcbLevel;
  tdxLevel?: TcbLevel;
}

export function tdxPlatformLevels(
  info: TcbInfo,
  comp: number[],
  pceSvn: number,
  teeTcbSvn: Buffer,
): TdxLevels {
  const out: TdxLevels = {};
  const from = teeTcbSvn[1]! > 0 ? 2 : 0;
  for (const l of info.levels) {
    if (!sgxLevelMatches(l, comp, pceSvn)) continue;
    out.sgxLevel ??= l;
    if (!l.tdx) continue;
    let ok = true;
    for (let i = from; i < 16; i++) if (teeTcbSvn[i]! < l.tdx[i]!) ok = false;
    if (ok) {
      out.tdxLevel = l;
      break;
    }
  }
  return out;
}

/** Status after a component (QE or TDX module) reports OutOfDate or Revoked. */
export function mergeOutOfDate(platform: TcbStatus, component: TcbStatus): TcbStatus {
  if (component === "Revoked") return "Revoked";
  if (component !== "OutOfDate") return platform;
  if (platform === "UpToDate" || platform === "SWHardeningNeeded") return "OutOfDate";
  if (platform === "ConfigurationNeeded" || platform === "ConfigurationAndSWHardeningNeeded")
    return "OutOfDateConfigurationNeeded";
  return platform;
}
