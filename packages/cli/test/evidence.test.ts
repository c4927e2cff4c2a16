// `cloister evidence verify` on the public vectors: the JSON shape, the verdict at the
// verify-at and must-fail-at times, tampering, and the exit statuses.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { fileURLToPath } from "node:url";
import { UsageError } from "../src/args.js";
import { verifyEvidenceFile } from "../src/commands/evidence.js";

const MAIN = fileURLToPath(new URL("../src/main.js", import.meta.url));
const V = fileURLToPath(new URL("../../../../fixtures/tee-evidence/", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "cloister-evidence-"));
after(() => rmSync(dir, { recursive: true, force: true }));

function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [MAIN, ...args], (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

const CASES = [
  {
    file: "sgx-dcap/phala-v3/sgx_quote",
    opts: { collateral: "sgx-dcap/phala-v3/sgx_quote_collateral.json" },
    ok: "2025-07-01T00:00:00Z",
    bad: "2025-07-20T00:00:00Z",
    tee: "sgx",
    tcb: "ConfigurationAndSWHardeningNeeded",
    accepted: false,
  },
  {
    file: "sgx-dcap/occlum-v3/occlum_quote.dat",
    opts: { collateral: "sgx-dcap/occlum-v3" },
    ok: "2025-09-01T00:00:00Z",
    bad: "2025-09-15T00:00:00Z",
    tee: "sgx",
    tcb: "OutOfDate",
    accepted: false,
  },
  {
    file: "sgx-dcap/ra-tls/gramine-cert.pem",
    opts: { collateral: "sgx-dcap/occlum-v3" },
    ok: "2025-09-01T00:00:00Z",
    bad: "2025-09-15T00:00:00Z",
    tee: "sgx",
    tcb: "OutOfDate",
    accepted: false,
  },
  {
    file: "tdx/phala-v4/tdx_quote",
    opts: { collateral: "tdx/phala-v4/tdx_quote_collateral.json" },
    ok: "2025-07-01T00:00:00Z",
    bad: "2025-07-20T00:00:00Z",
    tee: "tdx",
    tcb: "UpToDate",
    accepted: true,
  },
  {
    file: "tdx/phala-v5/tdx_quote_outdated",
    opts: { collateral: "tdx/phala-v5/tdx_quote_outdated_collateral.json" },
    ok: "2026-03-01T00:00:00Z",
    bad: "2026-03-21T00:00:00Z",
    tee: "tdx",
    tcb: "NotSupported",
    accepted: false,
  },
  {
    file: "sev-snp/ms-v3-milan/milan_attestation_report.bin",
    opts: { vcek: "sev-snp/ms-v3-milan/milan_vcek.pem" },
    ok: "2026-03-01T00:00:00Z",
    bad: "2033-02-06T00:00:00Z",
    tee: "sev-snp",
    tcb: null,
    accepted: true,
  },
  {
    file: "sev-snp/gosev-v2-milan/attestation.bin",
    opts: { vcek: "sev-snp/gosev-v2-milan/vcek.testcer", ca: "sev-snp/ca/milan_ask_ark_asvk.pem" },
    ok: "2025-01-01T00:00:00Z",
    bad: "2029-09-25T00:00:00Z",
    tee: "sev-snp",
    tcb: null,
    accepted: false,
  },
];
const abs = (o: Record<string, string | undefined>) =>
  Object.fromEntries(Object.entries(o).map(([k, v]) => [k, v && V + v]));

test("every vector: verdict, TEE, TCB status at verify-at; expiry named at must-fail-at", () => {
  for (const c of CASES) {
    const v = verifyEvidenceFile(V + c.file, { ...abs(c.opts), at: c.ok });
    assert.equal(v.tee, c.tee, c.file);
    assert.equal(v.tcb_status, c.tcb, c.file);
    assert.equal(v.accepted, c.accepted, `${c.file}: ${v.reasons.join("; ")}`);
    assert.ok(
      v.reasons.every((r) => r.startsWith("policy.")),
      `${c.file} verifies: ${v.reasons.join("; ")}`,
    );
    const late = verifyEvidenceFile(V + c.file, { ...abs(c.opts), at: c.bad });
    assert.equal(late.accepted, false, c.file);
    assert.ok(
      late.reasons.some((r) => /^[a-z_.]+\.expired: /.test(r)),
      `${c.file}: ${late.reasons.join("; ")}`,
    );
  }
});

test("a flipped bit in a quote is rejected and named", () => {
  const q = Buffer.from(readFileSync(V + "tdx/phala-v4/tdx_quote"));
  q[100]! ^= 0x04;
  const f = join(dir, "tampered");
  writeFileSync(f, q);
  const v = verifyEvidenceFile(f, {
    collateral: V + "tdx/phala-v4/tdx_quote_collateral.json",
    at: "2025-07-01T00:00:00Z",
  });
  assert.equal(v.accepted, false);
  assert.ok(v.reasons.some((r) => r.startsWith("quote.signature:")));
});

test("a policy file widens what is accepted", () => {
  const p = join(dir, "policy.toml");
  writeFileSync(p, 'accepted_tcb_statuses = ["UpToDate", "ConfigurationAndSWHardeningNeeded"]\n');
  const v = verifyEvidenceFile(V + "sgx-dcap/phala-v3/sgx_quote", {
    collateral: V + "sgx-dcap/phala-v3/sgx_quote_collateral.json",
    at: "2025-07-01T00:00:00Z",
    policy: p,
  });
  assert.equal(v.accepted, true);
  writeFileSync(p, "accepted_tcb_statuses = 3\n");
  assert.throws(() => verifyEvidenceFile(V + "sgx-dcap/phala-v3/sgx_quote", { policy: p }), UsageError);
});

test("exit status 0 accept, 1 reject, 2 usage; --json prints one object", async () => {
  const ok = await cli(
    "evidence",
    "verify",
    V + "tdx/phala-v4/tdx_quote",
    "--collateral",
    V + "tdx/phala-v4/tdx_quote_collateral.json",
    "--at",
    "2025-07-01T00:00:00Z",
    "--json",
  );
  assert.equal(ok.code, 0, ok.stderr);
  const j = JSON.parse(ok.stdout);
  assert.equal(j.tee, "tdx");
  assert.equal(j.accepted, true);
  assert.equal(j.tcb_status, "UpToDate");
  assert.deepEqual(j.advisory_ids, []);
  assert.equal(j.debug, false);
  assert.equal(
    j.measurements.mr_td,
    "91eb2b44d141d4ece09f0c75c2c53d247a3c68edd7fafe8a3520c942a604a407de03ae6dc5f87f27428b2538873118b7",
  );
  assert.deepEqual(j.reasons, []);
  const rejected = await cli(
    "evidence",
    "verify",
    V + "sev-snp/gosev-v2-milan/attestation.bin",
    "--vcek",
    V + "sev-snp/gosev-v2-milan/vcek.testcer",
    "--at",
    "2025-01-01T00:00:00Z",
    "--json",
  );
  assert.equal(rejected.code, 1);
  assert.deepEqual(JSON.parse(rejected.stdout).reasons, ["policy.debug: debug guests are refused"]);
  assert.equal(
    (await cli("evidence", "verify", V + "tdx/phala-v4/tdx_quote", "--at", "last tuesday")).code,
    2,
  );
  assert.equal((await cli("evidence", "verify")).code, 2);
  assert.equal((await cli("evidence", "verify", join(dir, "missing"))).code, 2);
});

test("cloister attest names the TEE, TCB status and measurements of real evidence; SIMULATED stays SIMULATED", async () => {
  const { OfflineCollateralSource, VerifyingAttestationService } = await import("@cloister/evidence");
  const { encodePayload, teaclaveIdentityOf, verifyAttestationEvidence } = await import("@cloister/tee");
  const { formatAttestation } = await import("../src/commands/attest.js");
  const now = new Date("2025-07-01T00:00:00Z");
  const as = await VerifyingAttestationService.loadOrCreate(dir, {
    source: OfflineCollateralSource.fromPaths([V + "tdx/phala-v4"]),
    now: () => now,
  });
  const quote = readFileSync(V + "tdx/phala-v4/tdx_quote");
  const id = teaclaveIdentityOf(quote);
  // The certificate key a real TD would hold is the one its REPORTDATA names.
  const key = Buffer.concat([Buffer.from([4]), id.reportData]);
  const { peer } = verifyAttestationEvidence(encodePayload(await as.endorse(quote)), key, {
    asRootCa: as.rootCaPem,
    accepted: [{ name: "teaclave_frontend_service", mrEnclave: id.mrEnclave, mrSigner: id.mrSigner }],
    now,
  });
  const text = formatAttestation("td.example:7777", peer, false);
  assert.match(text, /hardware TEE: tdx/);
  assert.match(text, /tcb status +UpToDate/);
  assert.match(text, /mr_td +91eb2b44/);
  assert.doesNotMatch(text, /SIMULATED/);
  const j = JSON.parse(formatAttestation("td.example:7777", peer, true));
  assert.equal(j.tee, "tdx");
  assert.equal(j.tcb_status, "UpToDate");
  assert.equal(j.tee_measurements.rtmr0.slice(0, 8), "44c0197b");
  const sim = formatAttestation(
    "localhost:7777",
    { ...peer, simulated: true, tee: "simulated", tcbStatus: null },
    false,
  );
  assert.match(sim, /SIMULATED TEE \(no hardware guarantee\)/);
  assert.match(sim, /tcb status +SIMULATED/);
});

test("evidence saved as hex or base64 text is read as its bytes", () => {
  const q = readFileSync(V + "tdx/phala-v4/tdx_quote");
  for (const [name, text] of [
    ["quote.hex", `${q.toString("hex")}\n`],
    ["quote.b64", q.toString("base64").replace(/.{76}/g, "$&\n")],
  ] as const) {
    writeFileSync(join(dir, name), text);
    const v = verifyEvidenceFile(join(dir, name), {
      collateral: V + "tdx/phala-v4/tdx_quote_collateral.json",
      at: "2025-07-01T00:00:00Z",
    });
    assert.equal(v.accepted, true, `${name}: ${v.reasons.join("; ")}`);
  }
});
