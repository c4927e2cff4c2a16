// The verifying attestation service: real quotes are verified in-process before the
// IAS-style report is signed; the report says which TEE and TCB status, and carries the
// evidence so that peers can re-verify it.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { AttestationError } from "@cloister/core";
import {
  buildSimulatedQuoteBody,
  encodePayload,
  parseReport,
  teaclaveIdentityOf,
  verifyAttestationEvidence,
} from "@cloister/tee";
import { EvidenceRejectedError, VerifyingAttestationService } from "../src/attestation-service.js";
import { OfflineCollateralSource } from "../src/collateral-source.js";
import { verifyEvidence } from "../src/evidence.js";
import { readIntelCollateral } from "../src/intel/collateral.js";
import { parsePolicy } from "../src/policy.js";
import { buildCertTable } from "../src/snp/cert-table.js";
import { loadCerts } from "../src/x509.js";
import { VECTORS, vector, vectorPath } from "./helpers.js";

const source = OfflineCollateralSource.fromPaths([VECTORS]);
const dir = mkdtempSync(join(tmpdir(), "cloister-vas-"));
test.after(() => rmSync(dir, { recursive: true, force: true }));

const service = (now: string, policy?: ReturnType<typeof parsePolicy>) =>
  VerifyingAttestationService.loadOrCreate(dir, {
    source,
    now: () => new Date(now),
    ...(policy ? { policy } : {}),
  });

/** The certificate key a quote binds (its REPORTDATA as X‖Y): the rest of the check is real. */
const keyOf = (evidence: Buffer) =>
  Buffer.concat([Buffer.from([4]), teaclaveIdentityOf(evidence).reportData]);

test("a real TDX quote is verified, then endorsed; peers see TEE, TCB status and the evidence", async () => {
  const now = "2025-07-01T00:00:00Z";
  const quote = vector("tdx/phala-v4/tdx_quote");
  const as = await service(now);
  const e = await as.endorse(quote);
  const r = parseReport(e.report);
  assert.equal(r.status, "OK");
  assert.equal(r.simulatedMarker, false);
  assert.equal(r.hardware?.tee, "tdx");
  assert.equal(r.hardware?.tcbStatus, "UpToDate");
  const id = teaclaveIdentityOf(quote);
  const reVerified: string[] = [];
  const policy = {
    asRootCa: as.rootCaPem,
    accepted: [{ name: "teaclave_frontend_service", mrEnclave: id.mrEnclave, mrSigner: id.mrSigner }],
    now: new Date(now),
    verifyHardwareEvidence: (ev: Buffer, at: Date) => {
      const v = verifyEvidence(ev, {
        now: at,
        collateral: readIntelCollateral(vectorPath("tdx/phala-v4/tdx_quote_collateral.json")),
      });
      if (!v.verified) throw new AttestationError("hardware evidence does not verify");
      reVerified.push(v.tee);
    },
  };
  const { peer } = verifyAttestationEvidence(encodePayload(e), keyOf(quote), policy);
  assert.equal(peer.tee, "tdx");
  assert.equal(peer.tcbStatus, "UpToDate");
  assert.equal(peer.simulated, false);
  assert.equal(
    peer.teeMeasurements?.["mr_td"],
    "91eb2b44d141d4ece09f0c75c2c53d247a3c68edd7fafe8a3520c942a604a407de03ae6dc5f87f27428b2538873118b7",
  );
  assert.deepEqual(reVerified, ["tdx"]);
  assert.ok(as.rootCaPem.includes("BEGIN CERTIFICATE"));
});

test("the default policy refuses a non-UpToDate SGX quote; a policy that accepts it gets the legacy status", async () => {
  const quote = vector("sgx-dcap/phala-v3/sgx_quote");
  const strict = await service("2025-07-01T00:00:00Z");
  await assert.rejects(strict.endorse(quote), (err: unknown) => {
    assert.ok(err instanceof EvidenceRejectedError);
    assert.deepEqual(
      err.reasons.map((x) => x.split(":")[0]),
      ["policy.tcb_status"],
    );
    return true;
  });
  const lenient = await service(
    "2025-07-01T00:00:00Z",
    parsePolicy({ accepted_tcb_statuses: ["ConfigurationAndSWHardeningNeeded"] }),
  );
  const r = parseReport((await lenient.endorse(quote)).report);
  assert.equal(r.status, "CONFIGURATION_AND_SW_HARDENING_NEEDED");
  assert.deepEqual(r.quoteBody, quote.subarray(0, 432));
  assert.deepEqual(r.hardware?.advisoryIds, ["INTEL-SA-00289", "INTEL-SA-00615"]);
});

test("expired collateral, tampered quotes and simulated quotes are never endorsed", async () => {
  const quote = vector("tdx/phala-v4/tdx_quote");
  const late = await service("2025-07-20T00:00:00Z");
  await assert.rejects(
    late.endorse(quote),
    (e: unknown) =>
      e instanceof EvidenceRejectedError && e.reasons.some((x) => x.startsWith("tcb_info.expired")),
  );
  const now = await service("2025-07-01T00:00:00Z");
  const tampered = Buffer.from(quote);
  tampered[600]! ^= 1;
  await assert.rejects(now.endorse(tampered), EvidenceRejectedError);
  const sim = buildSimulatedQuoteBody({
    mrEnclave: Buffer.alloc(32, 1),
    mrSigner: Buffer.alloc(32, 2),
    reportData: Buffer.alloc(64),
  });
  await assert.rejects(now.endorse(sim), EvidenceRejectedError);
});

test("SEV-SNP evidence with its certificate table is endorsed with the TEE named", async () => {
  const report = vector("sev-snp/ms-v3-milan/milan_attestation_report.bin");
  const [vcek] = loadCerts(vector("sev-snp/ms-v3-milan/milan_vcek.pem"), "vcek");
  const evidence = Buffer.concat([report, buildCertTable({ vcek: vcek!.der })]);
  const as = await service("2026-03-01T00:00:00Z");
  const r = parseReport((await as.endorse(evidence)).report);
  assert.equal(r.status, "OK");
  assert.equal(r.hardware?.tee, "sev-snp");
  assert.equal(r.hardware?.tcbStatus, null);
  assert.equal(r.quoteBody.subarray(28, 48).toString("latin1").replace(/\0+$/, ""), "CLOISTER-SNP-DERIVED");
});

test("hardware attestation set-up fails with a typed error without the device or with a bad policy", async () => {
  const { createHardwareAttestation } = await import("../src/hardware-attestation.js");
  const { ConfigError } = await import("@cloister/core");
  await assert.rejects(
    createHardwareAttestation({ provider: "gramine", dataDir: dir, gramineRoot: join(dir, "no-device") }),
    AttestationError,
  );
  await assert.rejects(
    createHardwareAttestation({ provider: "tsm", dataDir: dir, tsmRoot: join(dir, "no-configfs") }),
    AttestationError,
  );
  await assert.rejects(
    createHardwareAttestation({ provider: "tsm", dataDir: dir, policyFile: join(dir, "missing.toml") }),
    ConfigError,
  );
});

test("peers re-check embedded evidence: genuine passes, a changed bit does not", async () => {
  const { recheckHardwareEvidence } = await import("../src/evidence.js");
  const quote = vector("tdx/phala-v4/tdx_quote");
  const now = new Date("2025-07-01T00:00:00Z");
  recheckHardwareEvidence(quote, now);
  recheckHardwareEvidence(vector("sev-snp/ms-v3-milan/milan_attestation_report.bin"), now);
  const bad = Buffer.from(quote);
  bad[200]! ^= 0x10;
  assert.throws(
    () => recheckHardwareEvidence(bad, now),
    (e: unknown) => e instanceof AttestationError,
  );
});
