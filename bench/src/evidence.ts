// Full offline verification of real evidence (signatures, chains, CRLs, TCB Info, QE Identity,
// TCB status), per kind, on the public vectors. Collateral is parsed once, as a cache would.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { readIntelCollateral, verifyEvidence } from "@cloister/evidence";
import { percentile } from "./stats.js";

const V = new URL("../../../fixtures/tee-evidence/", import.meta.url).pathname;

export async function benchEvidence(n = 200): Promise<Record<string, number>> {
  const cases: [string, Buffer, Parameters<typeof verifyEvidence>[1]][] = [
    [
      "SGX DCAP quote v3",
      readFileSync(join(V, "sgx-dcap/phala-v3/sgx_quote")),
      {
        now: new Date("2025-07-01T00:00:00Z"),
        collateral: readIntelCollateral(join(V, "sgx-dcap/phala-v3/sgx_quote_collateral.json")),
      },
    ],
    [
      "TDX quote v4",
      readFileSync(join(V, "tdx/phala-v4/tdx_quote")),
      {
        now: new Date("2025-07-01T00:00:00Z"),
        collateral: readIntelCollateral(join(V, "tdx/phala-v4/tdx_quote_collateral.json")),
      },
    ],
    [
      "SEV-SNP report v3 (VCEK)",
      readFileSync(join(V, "sev-snp/ms-v3-milan/milan_attestation_report.bin")),
      {
        now: new Date("2026-03-01T00:00:00Z"),
        vcek: readFileSync(join(V, "sev-snp/ms-v3-milan/milan_vcek.pem")),
      },
    ],
    [
      "RA-TLS certificate (Gramine)",
      readFileSync(join(V, "sgx-dcap/ra-tls/gramine-cert.pem")),
      {
        now: new Date("2025-09-01T00:00:00Z"),
        collateral: readIntelCollateral(join(V, "sgx-dcap/occlum-v3")),
      },
    ],
  ];
  const out: Record<string, number> = {};
  for (const [name, bytes, inputs] of cases) {
    if (!verifyEvidence(bytes, inputs).verified) throw new Error(`${name} does not verify`);
    const samples: number[] = [];
    for (let i = 0; i < n; i++) {
      const t = process.hrtime.bigint();
      verifyEvidence(bytes, inputs);
      samples.push(Number(process.hrtime.bigint() - t) / 1e6);
    }
    out[`${name}: p50 ms`] = percentile(samples, 50);
    out[`${name}: p99 ms`] = percentile(samples, 99);
  }
  return out;
}
