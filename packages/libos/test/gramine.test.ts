// The Gramine driver against FAKE Gramine tools (test/fixtures/fake-gramine): Gramine is not
// installable here and this machine has no SGX. What is tested: the manifest (every runtime file
// trusted, no allowed_files, debug off, DCAP, encrypted /task), the signing and sigstruct-view
// command lines, MRENCLAVE taken from the SIGSTRUCT, the probe's refusals, and a full task through
// the loader's command line with simulated evidence. What is NOT tested: a real enclave, a real
// quote from /dev/attestation, MRENCLAVE against a loaded enclave.
import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import {
  buildImage,
  GramineBackend,
  GuestSession,
  gramineManifest,
  isLibosError,
  LibosUnavailableError,
  lintGramineManifest,
  parseSigstructView,
} from "../src/index.js";
import { AGENT, IMAGE_CACHE, type NodeTrust, nodeTrust, sessionOptions } from "./support.js";

const FAKE = new URL("../../test/fixtures/fake-gramine/", import.meta.url).pathname;
const tools = (loader: string) => ({
  sign: join(FAKE, "gramine-sgx-sign"),
  sigstructView: join(FAKE, "gramine-sgx-sigstruct-view"),
  loader: join(FAKE, loader),
});

describe("gramine driver (fake Gramine tools; never run on SGX hardware)", () => {
  let t: NodeTrust;
  let key: string;
  before(async () => {
    t = await nodeTrust();
    key = join(t.dataDir, "enclave-key.pem");
    const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 3072, publicExponent: 3 });
    writeFileSync(key, privateKey.export({ type: "pkcs8", format: "pem" }));
  });
  after(() => t.identity.close());

  test("the manifest trusts every runtime file and passes the lint; weakened manifests do not", async () => {
    const image = await buildImage("static", AGENT, IMAGE_CACHE);
    const text = gramineManifest(image, t.policyFor("static"), { mode: "sgx", stateDir: t.dataDir });
    lintGramineManifest(text);
    assert.match(text, /^libos\.entrypoint = "\/cloister\/guest"$/m);
    assert.ok(text.includes(`"file:${image.root}/cloister/guest",`));
    for (const bad of [
      text.replace("sgx.debug = false", "sgx.debug = true"),
      `${text}sgx.allowed_files = ["file:/payload"]\n`,
      text.replace('type = "encrypted", path = "/task"', 'type = "tmpfs", path = "/task"'),
      text.replace('sgx.remote_attestation = "dcap"', 'sgx.remote_attestation = "none"'),
      `${text}loader.insecure__use_host_env = true\n`,
    ]) {
      assert.throws(
        () => lintGramineManifest(bad),
        (e) => isLibosError(e, "image"),
      );
    }
  });

  test("gramine-sgx: signs reproducibly and predicts MRENCLAVE from the SIGSTRUCT", async () => {
    const image = await buildImage("static", AGENT, IMAGE_CACHE);
    const policy = t.policyFor("static");
    const b = new GramineBackend({
      mode: "sgx",
      stateDir: join(t.dataDir, "gsgx"),
      signingKey: key,
      tools: tools("gramine-sgx"),
    });
    const p1 = await b.prepare(image, policy);
    const p2 = await b.prepare(image, policy);
    assert.match(p1.measurement, /^[0-9a-f]{64}$/);
    assert.equal(p1.measurement, p2.measurement);
    const view = parseSigstructView(
      `{"mr_enclave": "${p1.measurement}", "mr_signer": "${p1.extra!.mrSigner}", "isv_prod_id": 1, "isv_svn": 1}`,
    );
    assert.equal(view.mrEnclave, p1.measurement);
    assert.ok(readFileSync(p1.extra!.manifest!, "utf8").includes("# trusted "));
    await assert.rejects(b.probe(image), (e) => e instanceof LibosUnavailableError);
    const withDevice = new GramineBackend({
      mode: "sgx",
      stateDir: join(t.dataDir, "gsgx2"),
      signingKey: key,
      tools: tools("gramine-sgx"),
      sgxDevice: key,
    });
    await withDevice.probe(image);
    await b.close();
    await withDevice.close();
  });

  test("gramine-direct: a task through the loader's command line (simulated evidence)", async () => {
    const image = await buildImage("static", AGENT, IMAGE_CACHE);
    const b = new GramineBackend({
      mode: "direct",
      stateDir: join(t.dataDir, "gdirect"),
      tools: tools("gramine-direct"),
    });
    await b.probe(image);
    const p = await b.prepare(image, t.policyFor("static"));
    const instance = await b.launch(p, { memoryBytes: 256 << 20, tmpfsBytes: 8 << 20, processes: 64 });
    try {
      const session = await GuestSession.open(instance, sessionOptions(p, t));
      assert.equal(session.simulated, true);
      const r = await session.run({
        taskId: "g1",
        payload: readFileSync(AGENT),
        spec: Buffer.from(
          JSON.stringify({
            argv: ["/app/main", "probe"],
            env: {},
            inputs: [],
            outputs: [],
            result: "stdout",
            limits: {
              cpuSeconds: 5,
              processes: 16,
              stdoutBytes: 4096,
              outputBytes: 4096,
              stderrBytes: 4096,
              fileSizeBytes: 1 << 20,
              addressSpaceMib: 0,
            },
          }),
        ),
        inputs: new Map(),
      });
      assert.equal(r.stdout.toString().trim(), "cloister-guest probe ok");
    } finally {
      await instance.kill();
      await b.close();
    }
  });
});
