// TCB status rules that no public vector exercises: the merges and the TD 1.5 relaunch rule,
// on TCB Info built for the purpose.
import assert from "node:assert/strict";
import { test } from "node:test";
import { mergeOutOfDate, type TcbInfo, type TcbLevel, tdxPlatformLevels } from "../src/intel/tcb.js";
import { relaunchStatus } from "../src/intel/verify.js";

const level = (sgx: number, tdx: number[], status: TcbLevel["status"]): TcbLevel => ({
  sgx: new Array(16).fill(sgx),
  pceSvn: 10,
  tdx: [...tdx, ...new Array(16 - tdx.length).fill(0)],
  date: "2025-01-01T00:00:00Z",
  status,
  advisoryIds: [],
});
const info = (levels: TcbLevel[], moduleTop = 3): TcbInfo => ({
  id: "TDX",
  version: 3,
  issueDate: new Date(0),
  nextUpdate: new Date(0),
  fmspc: "00",
  pceId: "0000",
  tcbType: 0,
  evaluationDataNumber: 1,
  levels,
  moduleIdentities: [
    {
      id: "TDX_01",
      mrSigner: Buffer.alloc(48),
      attributes: Buffer.alloc(8),
      attributesMask: Buffer.alloc(8),
      levels: [{ isvSvn: moduleTop, status: "UpToDate", date: "", advisoryIds: [] }],
    },
  ],
});
const svn = (...b: number[]) => Buffer.from([...b, ...new Array(16 - b.length).fill(0)]);

test("QE / module OutOfDate and Revoked merge into the platform status", () => {
  assert.equal(mergeOutOfDate("UpToDate", "OutOfDate"), "OutOfDate");
  assert.equal(mergeOutOfDate("SWHardeningNeeded", "OutOfDate"), "OutOfDate");
  assert.equal(mergeOutOfDate("ConfigurationNeeded", "OutOfDate"), "OutOfDateConfigurationNeeded");
  assert.equal(
    mergeOutOfDate("ConfigurationAndSWHardeningNeeded", "OutOfDate"),
    "OutOfDateConfigurationNeeded",
  );
  assert.equal(mergeOutOfDate("UpToDate", "Revoked"), "Revoked");
  assert.equal(mergeOutOfDate("SWHardeningNeeded", "UpToDate"), "SWHardeningNeeded");
});

test("TDX level: the SGX level is remembered, the walk goes on to the first TDX match (from component 2 with a module minor version)", () => {
  const ti = info([level(5, [9, 9, 5], "UpToDate"), level(5, [0, 0, 3], "OutOfDate")]);
  const l = tdxPlatformLevels(ti, new Array(16).fill(5), 10, svn(2, 1, 4));
  assert.equal(l.sgxLevel?.status, "UpToDate");
  assert.equal(l.tdxLevel?.status, "OutOfDate");
  assert.equal(tdxPlatformLevels(ti, new Array(16).fill(5), 10, svn(2, 1, 5)).tdxLevel?.status, "UpToDate");
  assert.equal(tdxPlatformLevels(ti, new Array(16).fill(4), 10, svn(2, 1, 5)).tdxLevel, undefined);
});

test("TD 1.5 relaunch rule: advised only when TEE_TCB_SVN2 would be current", () => {
  const ti = info([level(5, [0, 0, 5], "UpToDate"), level(5, [0, 0, 3], "OutOfDate")]);
  assert.equal(relaunchStatus(ti, svn(3, 1, 5), "OutOfDate"), "TDRelaunchAdvised");
  assert.equal(
    relaunchStatus(ti, svn(3, 1, 5), "OutOfDateConfigurationNeeded"),
    "TDRelaunchAdvisedConfigurationNeeded",
  );
  assert.equal(relaunchStatus(ti, svn(3, 1, 4), "OutOfDate"), "OutOfDate", "SVN2 below the newest level");
  assert.equal(
    relaunchStatus(ti, svn(2, 1, 5), "OutOfDate"),
    "OutOfDate",
    "module SVN2 below the newest module level",
  );
});
