// SGX DCAP and TDX quotes: every vector verifies at its verify-at time with the independent
// checker's parsed values and TCB status, fails at its must-fail-at time, and rejects
// single-bit changes of its signed regions.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { EvidenceError } from "../src/errors.js";
import { readIntelCollateral } from "../src/intel/collateral.js";
import { parseIntelQuote } from "../src/intel/quote.js";
import { verifyIntelQuote } from "../src/intel/verify.js";
import { expected, flip, sampleBits, vector, vectorPath } from "./helpers.js";

const hex = (b: Buffer | undefined) => b?.toString("hex");

const VECTORS = [
  {
    folder: "sgx-dcap",
    name: "sgx-v3-phala",
    quote: "sgx-dcap/phala-v3/sgx_quote",
    collateral: "sgx-dcap/phala-v3/sgx_quote_collateral.json",
  },
  {
    folder: "sgx-dcap",
    name: "sgx-v3-occlum",
    quote: "sgx-dcap/occlum-v3/occlum_quote.dat",
    collateral: "sgx-dcap/occlum-v3",
  },
  {
    folder: "tdx",
    name: "tdx-v4-phala",
    quote: "tdx/phala-v4/tdx_quote",
    collateral: "tdx/phala-v4/tdx_quote_collateral.json",
  },
  {
    folder: "tdx",
    name: "tdx-v5-phala-outdated",
    quote: "tdx/phala-v5/tdx_quote_outdated",
    collateral: "tdx/phala-v5/tdx_quote_outdated_collateral.json",
  },
];

for (const vec of VECTORS) {
  const exp = expected(vec.folder).vectors[vec.name]!;
  // biome-ignore lint/suspicious/noExplicitAny: untyped output of the independent checker
  const parsed = exp.parsed as Record<string, any>;
  const bytes = vector(vec.quote);
  const collateral = readIntelCollateral(vectorPath(vec.collateral));
  const at = new Date(exp.verify_at);
  const run = (b: Buffer, now = at) => verifyIntelQuote(b, { now, collateral });

  describe(vec.name, () => {
    test("verifies at its verify-at time with the expected values and TCB status", () => {
      const v = run(bytes);
      assert.deepEqual(v.failures, []);
      assert.equal(v.quote.version, parsed.quote_version);
      assert.equal(v.quote.tee, String(parsed.tee_type).toLowerCase());
      assert.equal(v.quote.bodyType, parsed.body_type);
      assert.equal(hex(v.pckExtension?.fmspc), parsed.pck.fmspc);
      assert.deepEqual(v.pckExtension?.compSvn, parsed.pck.sgx_tcb_comp_svn);
      assert.equal(v.pckExtension?.pceSvn, parsed.pck.pcesvn);
      assert.equal(v.pck?.serial, parsed.pck.serial);
      assert.equal(hex(v.quote.qeReport.mrEnclave), parsed.qe_report.mrenclave);
      assert.equal(v.quote.qeReport.isvSvn, parsed.qe_report.isvsvn);
      if (v.quote.sgx) {
        const e = parsed.enclave;
        assert.equal(hex(v.quote.sgx.mrEnclave), e.mrenclave);
        assert.equal(hex(v.quote.sgx.mrSigner), e.mrsigner);
        assert.equal(hex(v.quote.sgx.reportData), e.reportdata);
        assert.equal(hex(v.quote.sgx.attributes), e.attributes);
        assert.equal(v.quote.sgx.debug, e.debug);
        assert.equal(v.quote.sgx.isvProdId, e.isvprodid);
        assert.equal(v.quote.sgx.isvSvn, e.isvsvn);
        assert.equal(v.quote.sgx.miscSelect, e.miscselect);
      } else {
        const td = v.quote.td!;
        const e = parsed.td;
        assert.equal(hex(td.mrTd), e.mrtd);
        for (const [i, r] of td.rtmr.entries()) assert.equal(hex(r), e[`rtmr${i}`]);
        assert.equal(hex(td.mrSeam), e.mrseam);
        assert.equal(hex(td.teeTcbSvn), e.tee_tcb_svn);
        assert.equal(hex(td.reportData), e.reportdata);
        assert.equal(hex(td.tdAttributes), e.td_attributes);
        assert.equal(td.debug, e.td_attributes_debug);
        assert.equal(hex(td.teeTcbSvn2), e.tee_tcb_svn2);
        assert.equal(v.tdxModuleId, parsed.tcb.tdx_module_identity);
        assert.equal(v.tdxModuleStatus, parsed.tcb.tdx_module_tcb_status);
      }
      assert.equal(v.qeTcbStatus, parsed.tcb.qe_identity_tcb_status);
      assert.equal(v.platformTcbStatus, parsed.tcb.platform_tcb_status);
      assert.equal(v.tcbStatus, parsed.tcb.final_tcb_status);
      assert.deepEqual(v.advisoryIds, parsed.tcb.advisory_ids);
    });

    test("fails at its must-fail-at time, naming the expired collateral", () => {
      const v = run(bytes, new Date(exp.must_fail_at));
      const checks = v.failures.map((f) => f.check).sort();
      assert.deepEqual(checks, ["pck_crl.expired", "qe_identity.expired", "tcb_info.expired"]);
    });

    test("ignores bytes after the declared signature data", () => {
      const q = parseIntelQuote(bytes);
      const longer = Buffer.concat([
        bytes.subarray(0, q.length),
        Buffer.from("trailing text, not quote data\n"),
      ]);
      assert.deepEqual(run(longer).failures, []);
      assert.throws(() => parseIntelQuote(bytes.subarray(0, q.length - 1)), EvidenceError);
    });

    test("rejects single-bit changes in every signed region (sampled)", () => {
      const q = parseIntelQuote(bytes);
      const sigStart = q.signedRegion.length + 4;
      const authEnd = bytes.indexOf(q.qeAuthData, sigStart) + q.qeAuthData.length;
      const regions: [number, number, number][] = [
        [0, q.signedRegion.length, 12], // header and body: quote signature
        [sigStart, sigStart + 128, 6], // quote signature and attestation key
        [authEnd - q.qeAuthData.length - 64 - 2 - 384, authEnd, 10], // QE report, its signature, auth data
      ];
      for (const [s, e, n] of regions) {
        for (const bit of sampleBits(s, e, n, s + 1)) {
          let failed = false;
          try {
            failed = run(flip(bytes, bit)).failures.length > 0;
          } catch (err) {
            failed = err instanceof EvidenceError;
          }
          assert.ok(failed, `bit ${bit} (byte ${bit >> 3}) changed without rejection`);
        }
      }
    });
  });
}

test("TCB Info signature covers the exact served bytes", () => {
  const c = readIntelCollateral(vectorPath("sgx-dcap/phala-v3/sgx_quote_collateral.json"));
  const spaced = { ...c, tcbInfoText: c.tcbInfoText.replace('"version":3', '"version": 3') };
  const v = verifyIntelQuote(vector("sgx-dcap/phala-v3/sgx_quote"), {
    now: new Date("2025-07-01T00:00:00Z"),
    collateral: spaced,
  });
  assert.deepEqual(
    v.failures.map((f) => f.check),
    ["tcb_info.signature"],
  );
});

test("collateral of another platform is refused (FMSPC mismatch)", () => {
  const c = readIntelCollateral(vectorPath("sgx-dcap/occlum-v3"));
  const v = verifyIntelQuote(vector("sgx-dcap/phala-v3/sgx_quote"), {
    now: new Date("2025-09-01T00:00:00Z"),
    collateral: c,
  });
  assert.ok(v.failures.some((f) => f.check === "pck_crl" || f.check === "tcb_info.mismatch"));
  assert.equal(v.tcbStatus, undefined);
});

test("without collateral only signatures and the PCK chain are checked, and that is said", () => {
  const v = verifyIntelQuote(vector("sgx-dcap/phala-v3/sgx_quote"), {
    now: new Date("2025-07-01T00:00:00Z"),
  });
  assert.deepEqual(
    v.failures.map((f) => f.check),
    ["collateral.missing"],
  );
});

test("a quote that is not a quote is a typed error", () => {
  assert.throws(
    () => parseIntelQuote(Buffer.alloc(10)),
    (e: unknown) => e instanceof EvidenceError && e.check === "quote.format",
  );
  const b = Buffer.from(vector("sgx-dcap/phala-v3/sgx_quote"));
  b.writeUInt16LE(7, 0);
  assert.throws(
    () => parseIntelQuote(b),
    (e: unknown) => e instanceof EvidenceError && e.check === "quote.version",
  );
});
