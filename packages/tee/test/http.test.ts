import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { AttestationError } from "@cloister/core";
import {
  type AttestationHttpServer,
  attest,
  HttpAttestationService,
  REPORT_PATH,
  SimAttestationService,
  SimTeeProvider,
  startAttestationHttpServer,
  verifyAttestedCertificate,
} from "../src/index.js";
import { tempDir } from "./helpers.js";

describe("attestation service over HTTP", () => {
  const dataDir = tempDir({ after });
  const API_KEY = "0123456789abcdef0123456789abcdef";
  let as: SimAttestationService;
  let provider: SimTeeProvider;
  let srv: AttestationHttpServer;

  before(async () => {
    [as, provider] = await Promise.all([
      SimAttestationService.loadOrCreate(dataDir),
      SimTeeProvider.create({ dataDir, mrEnclave: Buffer.alloc(32, 9) }),
    ]);
    srv = await startAttestationHttpServer(as, { apiKey: API_KEY });
  });
  after(() => srv.close());

  test("a remote endorsement yields a certificate that verifies", async () => {
    const remote = new HttpAttestationService({ url: srv.url, apiKey: API_KEY });
    const { certificateDer } = await attest(provider, remote);
    const peer = verifyAttestedCertificate(certificateDer, {
      asRootCa: as.rootCaPem,
      accepted: [{ name: "svc", ...provider.measurement }],
    });
    assert.equal(peer.name, "svc");
    assert.equal(peer.simulated, true);
  });

  test("response headers and body follow the DCAP reference service", async () => {
    const res = await fetch(new URL(REPORT_PATH, srv.url), {
      method: "POST",
      headers: { "Ocp-Apim-Subscription-Key": API_KEY, "Content-Type": "application/json" },
      body: JSON.stringify({ isvEnclaveQuote: provider.quote(Buffer.alloc(64)).toString("base64") }),
    });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("content-type"), "application/json");
    assert.match(
      decodeURIComponent(res.headers.get("x-dcapreport-signing-certificate")!),
      /^-----BEGIN CERTIFICATE-----/,
    );
    assert.match(res.headers.get("x-dcapreport-signature")!, /^[A-Za-z0-9+/]+=*$/);
    const report = (await res.json()) as Record<string, unknown>;
    assert.equal(report["version"], 4);
  });

  test("errors: bad key 401, malformed 400, unknown path 404, wrong method 405", async () => {
    const wrongKey = new HttpAttestationService({ url: srv.url, apiKey: "x".repeat(32) });
    await assert.rejects(wrongKey.endorse(provider.quote(Buffer.alloc(64))), /subscription key/);
    const ok = new HttpAttestationService({ url: srv.url, apiKey: API_KEY });
    await assert.rejects(
      ok.endorse(Buffer.alloc(432)),
      (e: unknown) => e instanceof AttestationError && /invalid evidence/.test((e as Error).message),
    );
    const post = (path: string, body: string, method = "POST") =>
      fetch(new URL(path, srv.url), {
        method,
        headers: { "Ocp-Apim-Subscription-Key": API_KEY },
        ...(method === "POST" ? { body } : {}),
      });
    assert.equal((await post(REPORT_PATH, "{not json")).status, 400);
    assert.equal((await post(REPORT_PATH, JSON.stringify({ isvEnclaveQuote: 5 }))).status, 400);
    assert.equal((await post("/other", "{}")).status, 404);
    assert.equal((await post(REPORT_PATH, "", "GET")).status, 405);
  });
});
