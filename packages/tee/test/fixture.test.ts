// The legacy Teaclave certificate fixture: it must verify against the DCAP root CA, and every
// single-byte tamper of its evidence must be rejected.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { AttestationError } from "@cloister/core";
import {
  type AttestationPolicy,
  decodePayload,
  encodePayload,
  parseAttestedCertificate,
  parseQuoteBody,
  parseReport,
  verifyAttestationEvidence,
  verifyAttestedCertificate,
} from "../src/index.js";
import { fixture } from "./helpers.js";

const V4 = fixture("tls_ra_cert_v4.der");
const ROOT = fixture("dcap_root_ca_cert.der");
// Measurement carried by the fixture's quote (read once with openssl/our parser, pinned here).
const MR_ENCLAVE = "82bc195bd181ca8e3cf220f633eea98e7a0a55f3217fa7f731cf0d7a8d83253e";
const MR_SIGNER = "83d719e77deaca1470f6baf62a4d774303c899db69020f9c70ee1dfc08c7ce9e";
// Inside the report's lifetime and the chain's validity (2020-02-05 .. 2030-02-02).
const NOW = new Date("2022-01-18T00:00:00Z");

const policy = (over: Partial<AttestationPolicy> = {}): AttestationPolicy => ({
  asRootCa: ROOT,
  accepted: [{ name: "teaclave_authentication_service", mrEnclave: MR_ENCLAVE, mrSigner: MR_SIGNER }],
  now: NOW,
  ...over,
});

const cert = parseAttestedCertificate(V4);
const evidence = decodePayload(cert.payload);

/** Re-serialises the certificate DER with a replaced extension payload (same length or not). */
function withPayload(payload: Buffer): Buffer {
  const at = V4.indexOf(cert.payload);
  const oldLen = cert.payload.length;
  assert.equal(payload.length, oldLen, "length-preserving tamper keeps the DER lengths valid");
  return Buffer.concat([V4.subarray(0, at), payload, V4.subarray(at + oldLen)]);
}

function rejects(fn: () => unknown, pattern?: RegExp) {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof AttestationError, `expected AttestationError, got ${String(e)}`);
    if (pattern) assert.match((e as Error).message, pattern);
    return true;
  });
}

describe("legacy fixture tls_ra_cert_v4.der", () => {
  test("verifies against dcap_root_ca_cert.der", () => {
    const peer = verifyAttestedCertificate(V4, policy());
    assert.equal(peer.name, "teaclave_authentication_service");
    assert.equal(peer.mrEnclave, MR_ENCLAVE);
    assert.equal(peer.mrSigner, MR_SIGNER);
    assert.equal(peer.quoteStatus, "OK");
    assert.equal(peer.simulated, false);
    assert.equal(peer.timestamp.toISOString(), "2022-01-17T22:07:49.022Z");
    assert.deepEqual(peer.publicKey, cert.publicKey);
    assert.equal(peer.publicKey.length, 65);
  });

  test("measurement read from the quote matches the pinned values", () => {
    const q = parseQuoteBody(parseReport(evidence.report).quoteBody);
    assert.equal(q.mrEnclave.toString("hex"), MR_ENCLAVE);
    assert.equal(q.mrSigner.toString("hex"), MR_SIGNER);
    assert.equal(q.version, 3);
    assert.equal(q.keyType, 2);
    assert.equal(q.simulated, false);
  });

  test("accepts a PEM root and hex/Buffer measurements equally", () => {
    const pem = `-----BEGIN CERTIFICATE-----\n${ROOT.toString("base64")}\n-----END CERTIFICATE-----\n`;
    const p = policy({
      asRootCa: pem,
      accepted: [{ name: "a", mrEnclave: Buffer.from(MR_ENCLAVE, "hex"), mrSigner: MR_SIGNER.toUpperCase() }],
    });
    assert.equal(verifyAttestedCertificate(V4, p).name, "a");
  });

  test("rejects a measurement that is not accepted", () => {
    rejects(
      () =>
        verifyAttestedCertificate(
          V4,
          policy({ accepted: [{ name: "x", mrEnclave: "00".repeat(32), mrSigner: MR_SIGNER }] }),
        ),
      /measurement not accepted/,
    );
    // mr_enclave and mr_signer must match as a pair, not each somewhere in the list.
    rejects(
      () =>
        verifyAttestedCertificate(
          V4,
          policy({
            accepted: [
              { name: "a", mrEnclave: MR_ENCLAVE, mrSigner: "11".repeat(32) },
              { name: "b", mrEnclave: "22".repeat(32), mrSigner: MR_SIGNER },
            ],
          }),
        ),
      /measurement not accepted/,
    );
  });

  test("rejects under another root CA", () => {
    rejects(() => verifyAttestedCertificate(V4, policy({ asRootCa: fixture("ias_root_ca_cert.der") })));
  });

  test("rejects when the chain is not valid at the verification time", () => {
    rejects(
      () => verifyAttestedCertificate(V4, policy({ now: new Date("2031-01-01T00:00:00Z") })),
      /expired/,
    );
    rejects(
      () => verifyAttestedCertificate(V4, policy({ now: new Date("2020-01-01T00:00:00Z") })),
      /not yet valid/,
    );
  });

  test("rejects a report timestamp in the future of the verification time", () => {
    rejects(
      () => verifyAttestedCertificate(V4, policy({ now: new Date("2022-01-17T22:07:47Z") })),
      /timestamp is in the future/,
    );
  });

  test("quote status must be in acceptedStatuses", () => {
    rejects(
      () => verifyAttestedCertificate(V4, policy({ acceptedStatuses: ["CONFIGURATION_NEEDED"] })),
      /status OK/,
    );
  });

  test("tls_ra_cert_v3.der (old report format) is rejected", () => {
    rejects(() => verifyAttestedCertificate(fixture("tls_ra_cert_v3.der"), policy()));
  });

  test("any single-byte tamper of the report is rejected", () => {
    for (let i = 0; i < evidence.report.length; i++) {
      const report = Buffer.from(evidence.report);
      report[i] = (report[i]! + 1) & 0xff;
      rejects(
        () => verifyAttestationEvidence(encodePayload({ ...evidence, report }), cert.publicKey, policy()),
        /signature/,
      );
    }
  });

  test("any single-byte tamper of the report signature is rejected", () => {
    for (let i = 0; i < evidence.signature.length; i++) {
      const signature = Buffer.from(evidence.signature);
      signature[i] = (signature[i]! + 1) & 0xff;
      rejects(
        () => verifyAttestationEvidence(encodePayload({ ...evidence, signature }), cert.publicKey, policy()),
        /signature/,
      );
    }
  });

  test("any single-byte tamper of the certificate key is rejected", () => {
    for (let i = 0; i < cert.publicKey.length; i++) {
      const key = Buffer.from(cert.publicKey);
      key[i] = (key[i]! + 1) & 0xff;
      rejects(() => verifyAttestationEvidence(cert.payload, key, policy()));
    }
  });

  test("any single-byte tamper of the measurement in the quote is rejected", () => {
    const report = JSON.parse(evidence.report.toString("utf8")) as Record<string, unknown>;
    const quote = Buffer.from(report["isvEnclaveQuoteBody"] as string, "base64");
    for (const [start, end] of [
      [112, 144],
      [176, 208],
    ] as const) {
      for (let i = start; i < end; i++) {
        const q = Buffer.from(quote);
        q[i] = (q[i]! + 1) & 0xff;
        const tampered = Buffer.from(
          JSON.stringify({ ...report, isvEnclaveQuoteBody: q.toString("base64") }),
        );
        rejects(() =>
          verifyAttestationEvidence(
            encodePayload({ ...evidence, report: tampered }),
            cert.publicKey,
            policy(),
          ),
        );
        // Even a policy accepting the tampered measurement cannot make it pass.
        const p = policy({
          accepted: [{ name: "t", mrEnclave: q.subarray(112, 144), mrSigner: q.subarray(176, 208) }],
        });
        rejects(
          () =>
            verifyAttestationEvidence(encodePayload({ ...evidence, report: tampered }), cert.publicKey, p),
          /signature/,
        );
      }
    }
  });

  test("any single-byte tamper of the DER subjectPublicKeyInfo is rejected", () => {
    const spkiAt = 105; // SEQUENCE at offset 105, 91 bytes (see the schema in the legacy contract)
    assert.equal(V4[spkiAt], 0x30);
    for (let i = spkiAt; i < spkiAt + 91; i++) {
      const der = Buffer.from(V4);
      der[i] = der[i]! ^ 0x01;
      rejects(() => verifyAttestedCertificate(der, policy()));
    }
  });

  test("single-byte tampers of the DER extension are rejected", () => {
    // The extension header bytes, then the payload. Every payload byte is exercised through
    // the raw DER for the first 600 bytes and the report/signature/certs boundaries; the
    // exhaustive per-member sweeps above cover the rest.
    const extAt = 196;
    const payloadAt = V4.indexOf(cert.payload);
    const positions = new Set<number>();
    for (let i = extAt; i < payloadAt + 600; i++) positions.add(i);
    for (let i = payloadAt + 600; i < payloadAt + cert.payload.length; i += 7) positions.add(i);
    for (const i of positions) {
      const der = Buffer.from(V4);
      der[i] = der[i]! ^ 0x01;
      rejects(() => verifyAttestedCertificate(der, policy()));
    }
    // The signing certificate inside certs: every byte.
    const certs0 = evidence.certs[0]!;
    for (let i = 0; i < certs0.length; i++) {
      const c = Buffer.from(certs0);
      c[i] = c[i]! ^ 0x01;
      rejects(() =>
        verifyAttestationEvidence(encodePayload({ ...evidence, certs: [c] }), cert.publicKey, policy()),
      );
    }
  });

  test("a payload tamper preserving length is caught through the full verifier", () => {
    const p = Buffer.from(cert.payload);
    const i = p.indexOf('"signature":[') + 13;
    p[i] = p[i] === 0x31 ? 0x32 : 0x31;
    rejects(() => verifyAttestedCertificate(withPayload(p), policy()), /signature/);
  });
});
