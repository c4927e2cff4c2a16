// SEV-SNP reports: each vector verifies at its verify-at time with the checker's parsed values,
// fails once its VCEK/VLEK has expired, and rejects single-bit changes and foreign certificates.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { EvidenceError } from "../src/errors.js";
import { parseSnpReport, SNP_SIGNED_LENGTH, SnpPolicy } from "../src/snp/report.js";
import { verifySnpReport } from "../src/snp/verify.js";
import { expected, flip, sampleBits, vector } from "./helpers.js";

const exp = expected("sev-snp").vectors;

for (const [name, e] of Object.entries(exp)) {
  const files = e["files"] as { report: string; signer_cert: string; ca_bundle: string };
  // biome-ignore lint/suspicious/noExplicitAny: untyped output of the independent checker
  const p = e.parsed as Record<string, any>;
  const bytes = vector(files.report);
  const cert = vector(files.signer_cert);
  const run = (b: Buffer, now = new Date(e.verify_at), signingCert: Buffer = cert) =>
    verifySnpReport(b, { now, signingCert, caCerts: vector(files.ca_bundle) });

  describe(name, () => {
    test("verifies at its verify-at time with the expected values", () => {
      const v = run(bytes);
      assert.deepEqual(v.failures, []);
      const r = v.report;
      assert.equal(r.version, p.version);
      assert.equal(v.product, p.product);
      assert.equal(r.measurement.toString("hex"), p.measurement);
      assert.equal(r.reportData.toString("hex"), p.report_data);
      assert.equal(r.hostData.toString("hex"), p.host_data);
      assert.equal(r.chipId.toString("hex"), p.chip_id);
      assert.equal(`0x${r.policy.toString(16)}`, p.policy);
      assert.equal((r.policy & SnpPolicy.debug) !== 0n, p.policy_decoded.debug);
      assert.equal(r.vmpl, p.vmpl);
      assert.equal(v.signingKeyKind, p.signing_key.toLowerCase());
      const { raw: _raw, ...tcb } = v.reportedTcb!;
      assert.deepEqual(tcb, p.reported_tcb);
    });

    test("also verifies with the bundled AMD certificates", () => {
      assert.deepEqual(
        verifySnpReport(bytes, { now: new Date(e.verify_at), signingCert: cert }).failures,
        [],
      );
    });

    test("fails at its must-fail-at time (certificate expired)", () => {
      assert.deepEqual(
        run(bytes, new Date(e.must_fail_at)).failures.map((f) => f.check),
        ["snp.chain.expired"],
      );
    });

    test("rejects single-bit changes of the signed region and of the signature (sampled)", () => {
      for (const bit of [...sampleBits(0, SNP_SIGNED_LENGTH, 16), ...sampleBits(0x2a0, 0x2a0 + 48, 2)]) {
        let failed = false;
        try {
          failed = run(flip(bytes, bit)).failures.length > 0;
        } catch (err) {
          failed = err instanceof EvidenceError;
        }
        assert.ok(failed, `bit ${bit} changed without rejection`);
      }
    });
  });
}

test("a VCEK of another chip is refused (chip id / TCB binding)", () => {
  const a = exp["snp-v3-milan-ms"]!;
  const other = vector("sev-snp/gosev-v2-milan/vcek.testcer");
  const v = verifySnpReport(vector((a["files"] as { report: string }).report), {
    now: new Date("2026-03-01T00:00:00Z"),
    signingCert: other,
  });
  assert.ok(v.failures.some((f) => f.check === "snp.chip_id" || f.check === "snp.chain.expired"));
  assert.ok(v.failures.some((f) => f.check === "snp.chip_id"));
});

test("wrong sizes and versions are typed errors", () => {
  assert.throws(
    () => parseSnpReport(Buffer.alloc(100)),
    (e: unknown) => e instanceof EvidenceError && e.check === "snp.format",
  );
  const b = Buffer.from(vector("sev-snp/ms-v3-milan/milan_attestation_report.bin"));
  b.writeUInt32LE(4, 0);
  assert.throws(
    () => parseSnpReport(b),
    (e: unknown) => e instanceof EvidenceError && e.check === "snp.version",
  );
});
