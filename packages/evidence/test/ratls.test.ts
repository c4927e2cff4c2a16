// RA-TLS certificates: Gramine's (legacy + TCG DICE) and the Intel SGX SDK's, with key binding.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { readIntelCollateral } from "../src/intel/collateral.js";
import { verifyRaTlsCertificate } from "../src/ratls.js";
import { expected, vector, vectorPath } from "./helpers.js";

const exp = expected("sgx-dcap").vectors;
const occlum = readIntelCollateral(vectorPath("sgx-dcap/occlum-v3"));

describe("ratls-gramine", () => {
  const e = exp["ratls-gramine"]!;
  // biome-ignore lint/suspicious/noExplicitAny: untyped output of the independent checker
  const p = e.parsed as Record<string, any>;
  const pem = vector("sgx-dcap/ra-tls/gramine-cert.pem");

  test("verifies both quotes, the binding and the DCAP appraisal at its verify-at time", () => {
    const v = verifyRaTlsCertificate(pem, { now: new Date(e.verify_at), collateral: occlum });
    assert.deepEqual(v.failures, []);
    assert.equal(v.spkiSha256, p.spki_sha256);
    assert.deepEqual(
      v.quotes.map((q) => q.encoding),
      ["tcg-dice", "gramine-legacy"],
    );
    const dice = v.quotes[0]!.verification;
    for (const [i, q] of v.quotes.entries()) {
      const want = p.quotes[i];
      assert.equal(q.verification.quote.sgx?.mrEnclave.toString("hex"), want.mrenclave);
      assert.equal(q.verification.quote.sgx?.mrSigner.toString("hex"), want.mrsigner);
      assert.equal(q.verification.quote.sgx?.reportData.toString("hex"), want.reportdata);
    }
    assert.equal(dice.tcbStatus, p.dcap_appraisal_of_dice_quote.tcb.final_tcb_status);
    assert.deepEqual(dice.advisoryIds, p.dcap_appraisal_of_dice_quote.tcb.advisory_ids);
    assert.equal(dice.quote.sgx?.debug, true);
  });

  test("fails at its must-fail-at time", () => {
    const v = verifyRaTlsCertificate(pem, { now: new Date(e.must_fail_at), collateral: occlum });
    assert.deepEqual([...new Set(v.failures.map((f) => f.check))].sort(), [
      "pck_crl.expired",
      "qe_identity.expired",
      "tcb_info.expired",
    ]);
  });

  test("a quote moved into a certificate with another key does not bind", () => {
    // One bit of the certificate's public key changed: the self-signature and the pubkey-hash
    // binding must both fail.
    const text = pem.toString("latin1");
    const b64 = text.replace(/-----[^-]+-----/g, "").replace(/\s+/g, "");
    const bytes = Buffer.from(b64, "base64");
    const spkiAt = bytes.indexOf(Buffer.from("3076301006072a8648ce3d020106052b81040022036200", "hex"));
    assert.ok(spkiAt > 0);
    bytes[spkiAt + 30]! ^= 0x01;
    const v = verifyRaTlsCertificate(bytes, { now: new Date(e.verify_at), collateral: occlum });
    const checks = v.failures.map((f) => f.check);
    assert.ok(checks.includes("ratls.certificate") || checks.includes("ratls.certificate.format"));
    assert.ok(checks.includes("ratls.binding"), `binding must fail: ${checks.join(", ")}`);
  });
});

describe("ratls-intel-sgxsdk", () => {
  const e = exp["ratls-intel-sgxsdk"]!;
  // biome-ignore lint/suspicious/noExplicitAny: untyped output of the independent checker
  const p = e.parsed as Record<string, any>;
  const pem = vector("sgx-dcap/ra-tls/intel-sgxsdk-cert.pem");

  test("signatures and binding verify at its verify-at time; only the collateral is missing", () => {
    const v = verifyRaTlsCertificate(pem, { now: new Date(e.verify_at) });
    assert.deepEqual(
      v.failures.map((f) => f.check),
      ["collateral.missing"],
    );
    assert.equal(v.spkiSha256, p.spki_sha256);
    assert.deepEqual(
      v.quotes.map((q) => q.encoding),
      ["tcg-dice", "intel-sgxsdk"],
    );
    assert.equal(
      v.quotes[0]!.verification.quote.sgx?.mrEnclave.toString("hex"),
      "09e218a4be9dadbf7cdc82c45497d6d4f676d3b75445fc37a376f0b65b47de6a",
    );
  });

  test("fails at its must-fail-at time (certificate expired)", () => {
    const v = verifyRaTlsCertificate(pem, { now: new Date(e.must_fail_at) });
    assert.ok(v.failures.some((f) => f.check === "ratls.certificate.expired"));
  });
});
