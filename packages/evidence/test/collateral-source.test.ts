// Collateral sources: offline files chosen by FMSPC / TEE / PCK CA and by chip id, the cache,
// the SNP certificate table, and the online fetchers' requests (against a fake transport:
// there is no network here, and tests never reach Intel or AMD).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import {
  AmdKdsFetcher,
  CachedCollateralSource,
  type CollateralSource,
  type HttpResponse,
  IntelPcsFetcher,
  OfflineCollateralSource,
} from "../src/collateral-source.js";
import { verifyEvidenceFrom } from "../src/evidence.js";
import type { IntelCollateral } from "../src/intel/collateral.js";
import { buildCertTable, parseCertTable } from "../src/snp/cert-table.js";
import { expected, VECTORS, vector, vectorPath } from "./helpers.js";

const source = OfflineCollateralSource.fromPaths([VECTORS]);

test("offline source: every vector finds its own collateral or certificate", async () => {
  for (const folder of ["sgx-dcap", "tdx", "sev-snp"]) {
    for (const [name, e] of Object.entries(expected(folder).vectors)) {
      const files = e["files"] as Record<string, string>;
      const file = files["quote"] ?? files["report"] ?? files["cert"]!;
      const r = await verifyEvidenceFrom(vector(file), { now: new Date(e.verify_at), source });
      const allowed = name === "ratls-intel-sgxsdk" ? ["collateral.missing"] : [];
      assert.deepEqual(
        r.failures.map((f) => f.check),
        allowed,
        `${name}: ${r.failures.map((f) => f.message).join("; ")}`,
      );
    }
  }
});

test("the cache serves collateral until its earliest nextUpdate, then asks again", async () => {
  let calls = 0;
  const inner: CollateralSource = {
    intel: async (req) => {
      calls++;
      return source.intel(req);
    },
    amdSigningCert: async () => undefined,
  };
  let now = new Date("2025-07-01T00:00:00Z");
  const cached = new CachedCollateralSource(inner, { now: () => now });
  const req = { tee: "tdx" as const, fmspc: "b0c06f000000", ca: "platform" as const };
  assert.ok(await cached.intel(req));
  assert.ok(await cached.intel(req));
  assert.equal(calls, 1);
  now = new Date("2025-07-19T10:00:36Z"); // past the PCK CRL's nextUpdate
  await cached.intel(req);
  assert.equal(calls, 2);
  await assert.rejects(cached.intel({ ...req, fmspc: "../../x" }), { name: "EvidenceError" });
});

test("SNP evidence may carry its certificate table (configfs-tsm auxblob)", async () => {
  const report = vector("sev-snp/ms-v3-milan/milan_attestation_report.bin");
  const vcek = Buffer.from(
    readFileSync(vectorPath("sev-snp/ms-v3-milan/milan_vcek.pem"), "utf8").replace(
      /-----[^-]+-----|\s+/g,
      "",
    ),
    "base64",
  );
  const table = buildCertTable({ vcek });
  assert.deepEqual(parseCertTable(table).vcek, vcek);
  const empty = OfflineCollateralSource.fromCollateral([]);
  const r = await verifyEvidenceFrom(Buffer.concat([report, table]), {
    now: new Date("2026-03-01T00:00:00Z"),
    source: empty,
  });
  assert.equal(r.tee, "sev-snp");
  assert.deepEqual(r.failures, []);
});

test("Intel PCS fetcher asks the v4 API and assembles collateral from bodies and headers", async () => {
  const c = JSON.parse(readFileSync(vectorPath("tdx/phala-v4/tdx_quote_collateral.json"), "utf8")) as Record<
    string,
    string
  >;
  const asked: string[] = [];
  const get = async (url: string): Promise<HttpResponse> => {
    asked.push(url);
    if (url.includes("/tcb?"))
      return {
        status: 200,
        headers: { "tcb-info-issuer-chain": encodeURIComponent(c["tcb_info_issuer_chain"]!) },
        body: Buffer.from(`{"tcbInfo":${c["tcb_info"]},"signature":"${c["tcb_info_signature"]}"}`),
      };
    if (url.includes("/qe/identity"))
      return {
        status: 200,
        headers: { "sgx-enclave-identity-issuer-chain": encodeURIComponent(c["qe_identity_issuer_chain"]!) },
        body: Buffer.from(
          `{"enclaveIdentity":${c["qe_identity"]},"signature":"${c["qe_identity_signature"]}"}`,
        ),
      };
    if (url.includes("pckcrl"))
      return {
        status: 200,
        headers: { "sgx-pck-crl-issuer-chain": encodeURIComponent(c["pck_crl_issuer_chain"]!) },
        body: Buffer.from(c["pck_crl"]!, "hex"),
      };
    return { status: 200, headers: {}, body: Buffer.from(c["root_ca_crl"]!, "hex") };
  };
  const pcs = new IntelPcsFetcher({ get, baseUrl: "https://pccs.example.test" });
  const got: IntelCollateral = await pcs.intel({ tee: "tdx", fmspc: "b0c06f000000", ca: "platform" });
  assert.deepEqual(asked.slice(0, 3), [
    "https://pccs.example.test/tdx/certification/v4/tcb?fmspc=b0c06f000000",
    "https://pccs.example.test/tdx/certification/v4/qe/identity",
    "https://pccs.example.test/sgx/certification/v4/pckcrl?ca=platform&encoding=der",
  ]);
  const r = await verifyEvidenceFrom(vector("tdx/phala-v4/tdx_quote"), {
    now: new Date("2025-07-01T00:00:00Z"),
    source: { intel: async () => got, amdSigningCert: async () => undefined },
  });
  assert.deepEqual(r.failures, []);
  assert.equal(r.tcbStatus, "UpToDate");
  const failing = new IntelPcsFetcher({
    get: async () => ({ status: 404, headers: {}, body: Buffer.alloc(0) }),
  });
  await assert.rejects(failing.intel({ tee: "sgx", fmspc: "00a067110000", ca: "processor" }), {
    name: "EvidenceError",
  });
});

test("AMD KDS fetcher builds the VCEK URL from chip id and reported TCB (Turin: 8-byte id, fmcSPL)", () => {
  const kds = new AmdKdsFetcher({ get: async () => ({ status: 500, headers: {}, body: Buffer.alloc(0) }) });
  const id = Buffer.from("59790fb1c39f35c1".padEnd(128, "0"), "hex");
  assert.equal(
    kds.vcekUrl({
      product: "Turin",
      kind: "vcek",
      chipId: id,
      reportedTcb: { fmc: 1, bootloader: 1, tee: 1, snp: 4, microcode: 81, raw: Buffer.alloc(8) },
    }),
    "https://kdsintf.amd.com/vcek/v1/Turin/59790fb1c39f35c1?fmcSPL=1&blSPL=1&teeSPL=1&snpSPL=4&ucodeSPL=81",
  );
});
