// The simulated provider, the emulated attestation service and our own attested certificates.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createPrivateKey, sign, verify, X509Certificate } from "node:crypto";
import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { AttestationError } from "@cloister/core";
import {
  AttestationFiles,
  type AttestationPolicy,
  AttestedIdentity,
  attest,
  buildAttestedCertificate,
  buildReport,
  buildSimulatedQuoteBody,
  decodePayload,
  encodePayload,
  generateAttestedKeyPair,
  parseAttestedCertificate,
  parseCertificate,
  parseQuoteBody,
  parseReport,
  QUOTE_BODY_LENGTH,
  reportDataOf,
  SimAttestationService,
  SimTeeProvider,
  verifyAttestationEvidence,
  verifyAttestedCertificate,
  verifyAttestedSelfSignature,
} from "../src/index.js";
import { fixture, tempDir } from "./helpers.js";

const MR_ENCLAVE = Buffer.alloc(32, 0xab);

function rejects(fn: () => unknown, pattern?: RegExp) {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof AttestationError, `expected AttestationError, got ${String(e)}`);
    if (pattern) assert.match((e as Error).message, pattern);
    return true;
  });
}

const hasOpenssl = spawnSync("openssl", ["version"]).status === 0;
const hasPyCryptography = spawnSync("python3", ["-c", "import cryptography"]).status === 0;

describe("simulated TEE end to end", () => {
  const dataDir = tempDir({ after });
  // A second service whose root is different and whose signing certificate expired: issued
  // 400 days ago with the default 365-day validity.
  const oldDir = tempDir({ after });
  const past = Date.now() - 400 * 86_400_000;
  let provider: SimTeeProvider;
  let as: SimAttestationService;
  let oldAs: SimAttestationService;
  let policy: AttestationPolicy;

  before(async () => {
    [provider, as, oldAs] = await Promise.all([
      SimTeeProvider.create({ dataDir, mrEnclave: MR_ENCLAVE }),
      SimAttestationService.loadOrCreate(dataDir),
      SimAttestationService.loadOrCreate(oldDir, { now: () => new Date(past) }),
    ]);
    policy = {
      asRootCa: readFileSync(join(dataDir, AttestationFiles.rootCaCert), "utf8"),
      accepted: [{ name: "svc", mrEnclave: MR_ENCLAVE, mrSigner: provider.measurement.mrSigner }],
    };
  });

  test("release signing key and attestation keys are created once, private files 0600", async () => {
    const signer = join(dataDir, "signer", "release-signing-key.pem");
    assert.equal(statSync(signer).mode & 0o777, 0o600);
    assert.equal(statSync(join(dataDir, AttestationFiles.rootCaKey)).mode & 0o777, 0o600);
    assert.equal(statSync(join(dataDir, AttestationFiles.signingKey)).mode & 0o777, 0o600);
    const again = await SimTeeProvider.create({ dataDir, mrEnclave: MR_ENCLAVE });
    assert.deepEqual(again.measurement.mrSigner, provider.measurement.mrSigner);
    const as2 = await SimAttestationService.loadOrCreate(dataDir);
    assert.deepEqual(as2.rootCaDer, as.rootCaDer);
    assert.deepEqual(as2.signingCertDer, as.signingCertDer);
    assert.equal(provider.measurement.mrSigner.length, 32);
  });

  test("root CA and signing certificate have the required shape and say SIMULATED", () => {
    const root = new X509Certificate(as.rootCaDer);
    assert.equal(root.ca, true);
    assert.match(root.subject, /Simulated Attestation Root CA/);
    assert.match(root.subject, /SIMULATED TEE - no hardware guarantee/);
    assert.equal(root.publicKey.asymmetricKeyDetails?.modulusLength, 3072);
    assert.ok(root.verify(root.publicKey));
    const years = (Date.parse(root.validTo) - Date.parse(root.validFrom)) / (365.25 * 86_400_000);
    assert.ok(years > 9.9 && years < 10.1);
    const rp = parseCertificate(as.rootCaDer);
    const bc = rp.extensions.find((e) => e.oid === "2.5.29.19");
    assert.equal(bc?.critical, true);
    assert.equal(rp.version, 3);

    const leaf = new X509Certificate(as.signingCertDer);
    assert.equal(leaf.ca, false);
    assert.match(leaf.subject, /SIMULATED/);
    assert.ok(leaf.checkIssued(root));
    assert.ok(leaf.verify(root.publicKey));
    assert.equal(leaf.publicKey.asymmetricKeyDetails?.modulusLength, 2048);
    assert.equal(leaf.keyUsage, undefined, "no extended key usage");
    const lp = parseCertificate(as.signingCertDer);
    assert.equal(lp.version, 3);
    assert.ok(lp.serial.length <= 20);
  });

  test("openssl validates the signing certificate against as_root_ca.pem", { skip: !hasOpenssl }, (t) => {
    const dir = tempDir(t);
    const leafPem = join(dir, "leaf.pem");
    writeFileSync(leafPem, new X509Certificate(as.signingCertDer).toString());
    const r = spawnSync("openssl", [
      "verify",
      "-x509_strict",
      "-CAfile",
      join(dataDir, AttestationFiles.rootCaCert),
      leafPem,
    ]);
    assert.equal(r.status, 0, r.stderr.toString() + r.stdout.toString());
    // Also as a TLS server certificate (webpki evaluates it with server-certificate rules).
    const r2 = spawnSync("openssl", [
      "verify",
      "-purpose",
      "sslserver",
      "-CAfile",
      join(dataDir, AttestationFiles.rootCaCert),
      leafPem,
    ]);
    assert.equal(r2.status, 0, r2.stderr.toString() + r2.stdout.toString());
  });

  test("quote body layout with simulation markers", () => {
    const keys = generateAttestedKeyPair();
    const q = provider.quote(reportDataOf(keys.publicKey));
    assert.equal(q.length, QUOTE_BODY_LENGTH);
    assert.equal(q.readUInt16LE(0), 3);
    assert.equal(q.readUInt16LE(2), 2);
    assert.equal(q.subarray(28, 48).toString("latin1").replace(/\0+$/, ""), "CLOISTER-SIMULATED");
    assert.deepEqual(q.subarray(112, 144), MR_ENCLAVE);
    assert.deepEqual(q.subarray(176, 208), provider.measurement.mrSigner);
    assert.deepEqual(q.subarray(368, 432), reportDataOf(keys.publicKey));
    assert.equal(parseQuoteBody(q).simulated, true);
  });

  test("endorsement: report JSON per the legacy contract plus the simulated marker, RSA signature, leaf cert", () => {
    const q = provider.quote(Buffer.alloc(64, 7));
    const before = Date.now();
    const e = as.endorse(q);
    const obj = JSON.parse(e.report.toString("utf8")) as Record<string, unknown>;
    assert.deepEqual(Object.keys(obj), [
      "cloisterEvidence",
      "id",
      "isvEnclaveQuoteBody",
      "isvEnclaveQuoteStatus",
      "timestamp",
      "version",
    ]);
    assert.equal(obj["cloisterEvidence"], "simulated");
    assert.match(obj["id"] as string, /^[0-9a-f]{32}$/);
    assert.equal(obj["version"], 4);
    assert.equal(obj["isvEnclaveQuoteStatus"], "OK");
    assert.match(obj["timestamp"] as string, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}$/);
    assert.ok(Date.parse(`${obj["timestamp"]}Z`) <= Date.now());
    assert.ok(Date.parse(`${obj["timestamp"]}Z`) >= before - 1);
    assert.deepEqual(Buffer.from(obj["isvEnclaveQuoteBody"] as string, "base64"), q);
    assert.equal(e.report.toString("utf8"), JSON.stringify(obj), "compact JSON");
    assert.equal(e.certs.length, 1);
    assert.deepEqual(e.certs[0], as.signingCertDer);
    const leaf = new X509Certificate(e.certs[0]!);
    assert.ok(verify("sha256", e.report, leaf.publicKey, e.signature));
  });

  test("the emulated service refuses quotes that are not simulated", () => {
    const q = provider.quote(Buffer.alloc(64));
    q.fill(0, 28, 48);
    rejects(() => as.endorse(q), /only endorses simulated quotes/);
    rejects(() => as.endorse(Buffer.alloc(10)), /invalid evidence payload/);
  });

  test("attested certificate has the exact DER shape", async () => {
    const creds = await attest(provider, as);
    const der = creds.certificateDer;
    const c = parseAttestedCertificate(der);
    assert.equal(c.serial, 1);
    assert.equal(c.issuerCommonName, "Teaclave");
    assert.equal(c.subjectCommonName, "CN=Teaclave");
    assert.equal(c.notAfter.getTime() - c.notBefore.getTime(), 90 * 86_400_000);
    assert.equal(c.notBefore.getMilliseconds(), 0);
    verifyAttestedSelfSignature(c);

    // Positional walk over the raw bytes.
    const x = new X509Certificate(der);
    assert.ok(x.verify(x.publicKey), "self-signed");
    assert.equal(x.issuer, "CN=Teaclave");
    assert.equal(x.subject, "CN=CN=Teaclave");
    assert.equal(x.serialNumber, "01");
    assert.ok(
      der.includes(Buffer.from([0x0c, 0x08, ...Buffer.from("Teaclave")])),
      "issuer CN is a UTF8String",
    );
    assert.ok(
      der.includes(Buffer.from([0x0c, 0x0b, ...Buffer.from("CN=Teaclave")])),
      "subject CN is a UTF8String",
    );
    assert.ok(!der.includes(Buffer.from([0x13, 0x08, ...Buffer.from("Teaclave")])), "no PrintableString");
    const tbsStart = der.indexOf(Buffer.from([0xa0, 0x03, 0x02, 0x01, 0x02])); // [0] { INTEGER 2 }
    assert.deepEqual(der.subarray(tbsStart + 5, tbsStart + 8), Buffer.from([0x02, 0x01, 0x01]), "serial 1");
    assert.deepEqual(
      der.subarray(tbsStart + 8, tbsStart + 20),
      Buffer.from("300a06082a8648ce3d040302", "hex"),
      "ecdsa-with-SHA256 without parameters",
    );
    // UTCTime validity.
    const validity = der.indexOf(Buffer.from([0x30, 0x1e, 0x17, 0x0d]));
    assert.ok(validity > 0);
    assert.equal(der[validity + 17], 0x17);
    // One extension: [3] { SEQUENCE { SEQUENCE { OID netscape-comment, OCTET STRING } } }, no BOOLEAN.
    const oidNs = Buffer.from("06096086480186f842010d", "hex");
    const at = der.indexOf(oidNs);
    assert.ok(at > 0);
    assert.equal(der[at + oidNs.length], 0x04, "OCTET STRING right after the OID (non-critical)");
    assert.equal(der.indexOf(oidNs, at + 1), -1);
    assert.equal(parseCertificate(der).extensions.length, 1);
    assert.equal(c.payload.subarray(0, 11).toString(), '{"report":[');
    const payload = decodePayload(c.payload);
    assert.deepEqual(encodePayload(payload), c.payload, "compact JSON, members in order");
    // The private key is PKCS#8 and matches the certificate.
    assert.match(creds.privateKeyPem, /^-----BEGIN PRIVATE KEY-----/);
    assert.ok(x.checkPrivateKey(createPrivateKey(creds.privateKeyPem)));
  });

  test("openssl x509 -text accepts the attested certificate", { skip: !hasOpenssl }, async (t) => {
    const creds = await attest(provider, as);
    const dir = tempDir(t);
    const f = join(dir, "c.der");
    writeFileSync(f, creds.certificateDer);
    const r = spawnSync("openssl", ["x509", "-inform", "der", "-in", f, "-noout", "-text"]);
    assert.equal(r.status, 0, r.stderr.toString());
    const text = r.stdout.toString();
    assert.match(text, /Serial Number: 1 \(0x1\)/);
    assert.match(text, /Netscape Comment/);
    assert.match(text, /ecdsa-with-SHA256/);
    assert.match(text, /NIST CURVE: P-256/);
  });

  test("Python cryptography reads extensions[0] as the raw JSON (Python SDK step 2)", {
    skip: !hasPyCryptography,
  }, async () => {
    const creds = await attest(provider, as);
    const script =
      "import sys,json\nfrom cryptography import x509\n" +
      "c=x509.load_der_x509_certificate(sys.stdin.buffer.read())\n" +
      "e=json.loads(c.extensions[0].value.value)\n" +
      "print(len(c.extensions), sorted(e.keys()), len(bytes(e['certs'][0])))";
    const r = spawnSync("python3", ["-c", script], { input: creds.certificateDer });
    assert.equal(r.status, 0, r.stderr.toString());
    assert.equal(
      r.stdout.toString().trim(),
      `1 ['certs', 'report', 'signature'] ${as.signingCertDer.length}`,
    );
  });

  test("verifies OK and reports the simulated flag", async () => {
    const { certificateDer } = await attest(provider, as);
    const peer = verifyAttestedCertificate(certificateDer, policy);
    assert.equal(peer.name, "svc");
    assert.equal(peer.mrEnclave, MR_ENCLAVE.toString("hex"));
    assert.equal(peer.mrSigner, provider.measurement.mrSigner.toString("hex"));
    assert.equal(peer.quoteStatus, "OK");
    assert.equal(peer.simulated, true);
    assert.equal(peer.publicKey.length, 65);
    // Cached result is equal and independent of the caller's mutations.
    peer.publicKey.fill(0);
    assert.deepEqual(
      verifyAttestedCertificate(certificateDer, policy).publicKey,
      parseAttestedCertificate(certificateDer).publicKey,
    );
    rejects(
      () => verifyAttestedCertificate(certificateDer, { ...policy, rejectSimulated: true }),
      /simulated/,
    );
  });

  test("wrong mrEnclave is rejected", async () => {
    const { certificateDer } = await attest(provider, as);
    const p = {
      ...policy,
      accepted: [{ name: "svc", mrEnclave: Buffer.alloc(32, 1), mrSigner: provider.measurement.mrSigner }],
    };
    rejects(() => verifyAttestedCertificate(certificateDer, p), /measurement not accepted/);
    const other = await SimTeeProvider.create({ dataDir, mrEnclave: Buffer.alloc(32, 0xcd) });
    const otherCert = (await attest(other, as)).certificateDer;
    rejects(() => verifyAttestedCertificate(otherCert, policy), /measurement not accepted/);
  });

  test("wrong root is rejected", async () => {
    const { certificateDer } = await attest(provider, as);
    rejects(() =>
      verifyAttestedCertificate(certificateDer, { ...policy, asRootCa: fixture("dcap_root_ca_cert.der") }),
    );
    rejects(
      () => verifyAttestedCertificate(certificateDer, { ...policy, asRootCa: oldAs.rootCaDer }),
      /not signed by the attestation service root CA/,
    );
  });

  test("expired signing certificate is rejected", async () => {
    const { certificateDer } = await attest(provider, oldAs);
    const p = { ...policy, asRootCa: oldAs.rootCaDer };
    rejects(() => verifyAttestedCertificate(certificateDer, p), /report signing certificate has expired/);
    // At a time when it was valid, the same evidence verifies.
    assert.equal(
      verifyAttestedCertificate(certificateDer, { ...p, now: new Date(past + 86_400_000) }).name,
      "svc",
    );
    // Loading again today re-issues a fresh signing certificate under the same root.
    const renewed = await SimAttestationService.loadOrCreate(oldDir);
    assert.deepEqual(renewed.rootCaDer, oldAs.rootCaDer);
    assert.notDeepEqual(renewed.signingCertDer, oldAs.signingCertDer);
    assert.equal(verifyAttestedCertificate((await attest(provider, renewed)).certificateDer, p).name, "svc");
  });

  test("REPORTDATA must equal the certificate key", async () => {
    const keys = generateAttestedKeyPair();
    const otherKeys = generateAttestedKeyPair();
    const endorsement = as.endorse(provider.quote(reportDataOf(otherKeys.publicKey)));
    const der = buildAttestedCertificate({ keyPair: keys, endorsement });
    rejects(() => verifyAttestedCertificate(der, policy), /does not match the report data/);
  });

  test("report checks: version, future timestamp, status", async () => {
    const keys = generateAttestedKeyPair();
    const quoteBody = provider.quote(reportDataOf(keys.publicKey));
    const signer = createPrivateKey(readFileSync(join(dataDir, AttestationFiles.signingKey), "utf8"));
    const make = (report: Buffer) => {
      const signature = sign("sha256", report, signer);
      return encodePayload({ report, signature, certs: [as.signingCertDer] });
    };
    const point = parseAttestedCertificate(
      buildAttestedCertificate({ keyPair: keys, endorsement: null }),
    ).publicKey;
    assert.equal(
      verifyAttestationEvidence(make(buildReport({ quoteBody, simulated: true })), point, policy).peer.name,
      "svc",
    );

    const future = buildReport({ quoteBody, timestamp: new Date(Date.now() + 5000) });
    rejects(() => verifyAttestationEvidence(make(future), point, policy), /in the future/);

    rejects(
      () =>
        verifyAttestationEvidence(make(buildReport({ quoteBody, status: "GROUP_REVOKED" })), point, policy),
      /not accepted/,
    );
    rejects(
      () => verifyAttestationEvidence(make(buildReport({ quoteBody, status: "WHATEVER" })), point, policy),
      /unknown quote status/,
    );
    const lenient = { ...policy, acceptedStatuses: ["OK", "SW_HARDENING_NEEDED"] };
    assert.equal(
      verifyAttestationEvidence(
        make(buildReport({ quoteBody, status: "SW_HARDENING_NEEDED" })),
        point,
        lenient,
      ).peer.quoteStatus,
      "SW_HARDENING_NEEDED",
    );

    const v3 = JSON.parse(buildReport({ quoteBody }).toString()) as Record<string, unknown>;
    v3["version"] = 3;
    rejects(
      () => verifyAttestationEvidence(make(Buffer.from(JSON.stringify(v3))), point, policy),
      /API version not compatible/,
    );

    const shortQuote = JSON.parse(buildReport({ quoteBody }).toString()) as Record<string, unknown>;
    shortQuote["isvEnclaveQuoteBody"] = quoteBody.subarray(0, 431).toString("base64");
    rejects(
      () => verifyAttestationEvidence(make(Buffer.from(JSON.stringify(shortQuote))), point, policy),
      /432 bytes/,
    );

    const badType = Buffer.from(quoteBody);
    badType.writeUInt16LE(5, 2);
    rejects(
      () => verifyAttestationEvidence(make(buildReport({ quoteBody: badType })), point, policy),
      /key type/,
    );
    assert.equal(parseReport(buildReport({ quoteBody })).quoteBody.length, 432);
  });

  test("simulation-mode certificate (empty payload) is rejected with a clear message", () => {
    const der = buildAttestedCertificate({ keyPair: generateAttestedKeyPair(), endorsement: null });
    assert.ok(der.includes(Buffer.from('{"report":[],"signature":[],"certs":[]}')));
    rejects(() => verifyAttestedCertificate(der, policy), /no attestation evidence/);
  });

  test("schema deviations are rejected", async () => {
    const { certificateDer } = await attest(provider, as);
    // Truncated / trailing bytes.
    rejects(
      () => verifyAttestedCertificate(certificateDer.subarray(0, certificateDer.length - 1), policy),
      /schema/,
    );
    rejects(
      () => verifyAttestedCertificate(Buffer.concat([certificateDer, Buffer.from([0])]), policy),
      /schema/,
    );
    // A CA-issued, ordinary certificate is not an attested certificate.
    rejects(() => verifyAttestedCertificate(as.signingCertDer, policy), /schema/);
    // UTF8String → PrintableString for the issuer CN.
    const bad = Buffer.from(certificateDer);
    const i = bad.indexOf(Buffer.from([0x0c, 0x08, ...Buffer.from("Teaclave")]));
    bad[i] = 0x13;
    rejects(() => verifyAttestedCertificate(bad, policy), /UTF8String/);
  });

  test("bad policy is a ConfigError", async () => {
    const { certificateDer } = await attest(provider, as);
    assert.throws(
      () =>
        verifyAttestedCertificate(certificateDer, {
          ...policy,
          accepted: [{ name: "x", mrEnclave: "zz", mrSigner: "00" }],
        }),
      { name: "ConfigError" },
    );
    assert.throws(() => verifyAttestedCertificate(certificateDer, { ...policy, asRootCa: "nope" }), {
      name: "ConfigError",
    });
    assert.throws(
      () => verifyAttestedCertificate(certificateDer, { ...policy, acceptedStatuses: ["MAYBE"] }),
      {
        name: "ConfigError",
      },
    );
  });

  test("AttestedIdentity renews with a fresh key and emits 'renewed'", async () => {
    const identity = await AttestedIdentity.create({
      provider,
      attestationService: as,
      reattestIntervalMs: 3_600_000,
    });
    try {
      const first = identity.current();
      assert.equal(verifyAttestedCertificate(first.certificateDer, policy).name, "svc");
      const renewed = new Promise((resolve) => identity.once("renewed", resolve));
      const second = await identity.renew();
      assert.equal(await renewed, second);
      assert.equal(identity.current(), second);
      assert.notEqual(second.privateKeyPem, first.privateKeyPem);
      assert.notDeepEqual(
        parseAttestedCertificate(second.certificateDer).publicKey,
        parseAttestedCertificate(first.certificateDer).publicKey,
      );
      assert.equal(verifyAttestedCertificate(second.certificateDer, policy).name, "svc");
      assert.match(second.certificatePem, /^-----BEGIN CERTIFICATE-----\n/);
    } finally {
      identity.close();
    }
    await assert.rejects(identity.renew(), AttestationError);
  });

  test("AttestedIdentity re-attests on its timer", async () => {
    const identity = await AttestedIdentity.create({
      provider,
      attestationService: as,
      reattestIntervalMs: 20,
    });
    const keepAlive = setInterval(() => {}, 1000); // the identity's own timer is unref'd
    try {
      const first = identity.current();
      const next = await new Promise<unknown>((resolve) => identity.once("renewed", resolve));
      assert.notEqual(next, first);
      assert.equal(identity.current(), next);
    } finally {
      identity.close();
      clearInterval(keepAlive);
    }
  });

  test("AttestedIdentity keeps the old credentials when renewal fails", async () => {
    let fail = false;
    const flaky = {
      endorse: (q: Buffer) => (fail ? Promise.reject(new Error("AS down")) : Promise.resolve(as.endorse(q))),
    };
    const identity = await AttestedIdentity.create({
      provider,
      attestationService: flaky,
      reattestIntervalMs: 20,
    });
    const keepAlive = setInterval(() => {}, 1000); // the identity's own timer is unref'd
    try {
      const first = identity.current();
      fail = true;
      const err = await new Promise<Error>((resolve) => identity.once("renewalFailed", resolve));
      assert.match(err.message, /AS down/);
      assert.equal(identity.current(), first);
    } finally {
      identity.close();
      clearInterval(keepAlive);
    }
  });

  test("simulated quotes are deterministic in their measurement fields", () => {
    const rd = Buffer.alloc(64, 3);
    assert.deepEqual(
      provider.quote(rd),
      buildSimulatedQuoteBody({ ...provider.measurement, reportData: rd }),
    );
  });

  test("concurrent first use yields a single root and signer", async (t) => {
    const dir = tempDir(t);
    const [a, b] = await Promise.all([
      SimAttestationService.loadOrCreate(dir),
      SimAttestationService.loadOrCreate(dir),
    ]);
    assert.deepEqual(a.rootCaDer, b.rootCaDer);
    assert.ok(existsSync(join(dir, "as_root_ca.pem")));
  });
});
