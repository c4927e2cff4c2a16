// One entry point for every vector, and the appraisal policy's defaults and allow-lists.
import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { ConfigError } from "@cloister/core";
import { detectEvidence, type EvidenceInputs, verifyEvidence } from "../src/evidence.js";
import { readIntelCollateral } from "../src/intel/collateral.js";
import { appraise, defaultPolicy, parsePolicy, readPolicyFile } from "../src/policy.js";
import { vector, vectorPath } from "./helpers.js";

const at = (s: string) => new Date(s);
const intel = (quote: string, collateral: string, now: string) =>
  verifyEvidence(vector(quote), { now: at(now), collateral: readIntelCollateral(vectorPath(collateral)) });
const snp = (report: string, vcek: string, now: string, extra: Partial<EvidenceInputs> = {}) =>
  verifyEvidence(vector(report), { now: at(now), vcek: vector(vcek), ...extra });
const checks = (r: { reasons: { check: string }[] }) => r.reasons.map((x) => x.check);

test("evidence type is detected from the bytes", () => {
  assert.equal(detectEvidence(vector("sgx-dcap/phala-v3/sgx_quote")), "intel-quote");
  assert.equal(detectEvidence(vector("tdx/phala-v5/tdx_quote_outdated")), "intel-quote");
  assert.equal(detectEvidence(vector("sev-snp/ms-v3-milan/milan_attestation_report.bin")), "snp-report");
  assert.equal(detectEvidence(vector("sgx-dcap/ra-tls/gramine-cert.pem")), "ra-tls-certificate");
  assert.throws(() => detectEvidence(Buffer.from("hello")), { name: "EvidenceError" });
});

test("default policy: an up-to-date TDX quote is accepted", () => {
  const r = intel("tdx/phala-v4/tdx_quote", "tdx/phala-v4/tdx_quote_collateral.json", "2025-07-01T00:00:00Z");
  assert.equal(r.tee, "tdx");
  assert.deepEqual(appraise(r, defaultPolicy()), { accepted: true, reasons: [] });
});

test("default policy refuses anything but UpToDate; opting in to advisories is explicit", () => {
  const r = intel(
    "sgx-dcap/phala-v3/sgx_quote",
    "sgx-dcap/phala-v3/sgx_quote_collateral.json",
    "2025-07-01T00:00:00Z",
  );
  assert.deepEqual(checks(appraise(r, defaultPolicy())), ["policy.tcb_status"]);
  const lenient = parsePolicy({
    accepted_tcb_statuses: ["UpToDate", "ConfigurationAndSWHardeningNeeded"],
    accepted_advisory_ids: ["INTEL-SA-00289", "INTEL-SA-00615"],
  });
  assert.equal(appraise(r, lenient).accepted, true);
  const partial = parsePolicy({
    accepted_tcb_statuses: ["ConfigurationAndSWHardeningNeeded"],
    accepted_advisory_ids: ["INTEL-SA-00615"],
  });
  assert.deepEqual(checks(appraise(r, partial)), ["policy.advisory_ids"]);
});

test("debug enclaves and guests are refused by default", () => {
  const occlum = intel("sgx-dcap/occlum-v3/occlum_quote.dat", "sgx-dcap/occlum-v3", "2025-09-01T00:00:00Z");
  assert.deepEqual(checks(appraise(occlum, defaultPolicy())).sort(), ["policy.debug", "policy.tcb_status"]);
  const gosev = snp(
    "sev-snp/gosev-v2-milan/attestation.bin",
    "sev-snp/gosev-v2-milan/vcek.testcer",
    "2025-01-01T00:00:00Z",
  );
  assert.deepEqual(checks(appraise(gosev, defaultPolicy())), ["policy.debug"]);
  assert.equal(appraise(gosev, parsePolicy({ allow_debug: true })).accepted, true);
});

test("measurement allow-lists and SNP minimum TCB", () => {
  const m = snp(
    "sev-snp/ms-v3-milan/milan_attestation_report.bin",
    "sev-snp/ms-v3-milan/milan_vcek.pem",
    "2026-03-01T00:00:00Z",
  );
  assert.equal(appraise(m, defaultPolicy()).accepted, true);
  const meas =
    "5feee30d6d7e1a29f403d70a4198237ddfb13051a2d6976439487c609388ed7f98189887920ab2fa0096903a0c23fca1";
  assert.equal(
    appraise(m, parsePolicy({ sev_snp: { measurement: [meas.toUpperCase()], min_tcb: { snp: 24 } } }))
      .accepted,
    true,
  );
  assert.deepEqual(
    checks(
      appraise(m, parsePolicy({ sev_snp: { measurement: ["00".repeat(48)], min_tcb: { microcode: 220 } } })),
    ),
    ["policy.measurement", "policy.min_tcb"],
  );
  const vlek = snp(
    "sev-snp/trustee-v3-milan-vlek/test-vlek-report.bin",
    "sev-snp/trustee-v3-milan-vlek/test-vlek.der",
    "2025-06-01T00:00:00Z",
  );
  assert.deepEqual(checks(appraise(vlek, parsePolicy({ sev_snp: { vmpl: [0] } }))), ["policy.vmpl"]);
  const tdx = intel(
    "tdx/phala-v4/tdx_quote",
    "tdx/phala-v4/tdx_quote_collateral.json",
    "2025-07-01T00:00:00Z",
  );
  assert.deepEqual(checks(appraise(tdx, parsePolicy({ tdx: { mr_td: ["11".repeat(48)] } }))), [
    "policy.mr_td",
  ]);
  const sgx = intel(
    "sgx-dcap/phala-v3/sgx_quote",
    "sgx-dcap/phala-v3/sgx_quote_collateral.json",
    "2025-07-01T00:00:00Z",
  );
  assert.ok(
    checks(appraise(sgx, parsePolicy({ sgx: { mr_signer: ["00".repeat(32)], min_isv_svn: 1 } }))).includes(
      "policy.mr_signer",
    ),
  );
});

test("REPORTDATA binding to the TLS key is enforced when the policy asks for it", () => {
  const r = intel("tdx/phala-v4/tdx_quote", "tdx/phala-v4/tdx_quote_collateral.json", "2025-07-01T00:00:00Z");
  const p = parsePolicy({ report_data: "tls-key" });
  assert.deepEqual(checks(appraise(r, p)), ["policy.report_data"]);
  const { publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  assert.deepEqual(checks(appraise(r, p, { tlsKey: publicKey })), ["policy.report_data"]);
  const ratls = verifyEvidence(vector("sgx-dcap/ra-tls/gramine-cert.pem"), {
    now: at("2025-09-01T00:00:00Z"),
    collateral: readIntelCollateral(vectorPath("sgx-dcap/occlum-v3")),
  });
  assert.deepEqual(
    checks(
      appraise(
        ratls,
        parsePolicy({ report_data: "tls-key", allow_debug: true, accepted_tcb_statuses: ["OutOfDate"] }),
      ),
    ),
    [],
  );
});

test("expired evidence is rejected with the expiry named", () => {
  const r = intel("tdx/phala-v4/tdx_quote", "tdx/phala-v4/tdx_quote_collateral.json", "2025-07-20T00:00:00Z");
  assert.equal(r.verified, false);
  const a = appraise(r, defaultPolicy());
  assert.equal(a.accepted, false);
  assert.ok(checks(a).includes("tcb_info.expired"));
});

test("policy files: TOML, strict keys, unacceptable statuses refused", (t) => {
  const dir = mkdtempSync(join(tmpdir(), "cloister-policy-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const good = join(dir, "good.toml");
  writeFileSync(
    good,
    'accepted_tcb_statuses = ["UpToDate", "SWHardeningNeeded"]\n[sgx]\nmr_signer = ["' +
      "ab".repeat(32) +
      '"]\n',
  );
  const p = readPolicyFile(good);
  assert.deepEqual(p.accepted_tcb_statuses, ["UpToDate", "SWHardeningNeeded"]);
  assert.equal(p.allow_debug, false);
  for (const text of [
    'accepted_tcb_statuses = ["Revoked"]',
    "allow_debugg = true",
    '[sgx]\nmr_enclave = ["zz"]',
    "not toml =",
  ]) {
    writeFileSync(join(dir, "bad.toml"), text);
    assert.throws(() => readPolicyFile(join(dir, "bad.toml")), ConfigError, text);
  }
});
