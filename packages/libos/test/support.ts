import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AttestedIdentity, loadReleaseSigner, SimAttestationService, SimTeeProvider } from "@cloister/tee";
import {
  buildImage,
  type LibosBackend,
  type PreparedRuntime,
  type RuntimeName,
  type RuntimeTrust,
  type SessionOptions,
  SimEvidenceIssuer,
} from "../src/index.js";

export const AGENT = new URL("../guest/cloister-guest", import.meta.url).pathname;
/** Images are shared by the tests of this package (content-addressed, like the node's cache). */
export const IMAGE_CACHE = join(tmpdir(), "cloister-libos-test-images");

/** A node's trust material in a fresh data directory: attestation service, release signer, identity. */
export async function nodeTrust() {
  const dataDir = mkdtempSync(join(tmpdir(), "cloister-libos-"));
  const attestation = await SimAttestationService.loadOrCreate(dataDir);
  const mrSigner = await loadReleaseSigner(dataDir);
  const provider = await SimTeeProvider.create({ dataDir, mrEnclave: Buffer.alloc(32, 7) });
  const identity = await AttestedIdentity.create({ provider, attestationService: attestation });
  const asRootCa = readFileSync(join(dataDir, "as_root_ca.pem"), "utf8");
  const policyFor = (runtime: string) => {
    const p = join(dataDir, `policy-${runtime}.json`);
    writeFileSync(p, JSON.stringify({ runtime, asRootCa, nodeMrSigners: [mrSigner.toString("hex")] }));
    return p;
  };
  return { dataDir, attestation, mrSigner, identity, asRootCa, policyFor };
}

export type NodeTrust = Awaited<ReturnType<typeof nodeTrust>>;

export async function prepared(
  backend: LibosBackend,
  runtime: RuntimeName,
  t: NodeTrust,
): Promise<PreparedRuntime> {
  const image = await buildImage(runtime, AGENT, IMAGE_CACHE);
  return backend.prepare(image, t.policyFor(runtime));
}

export function sessionOptions(p: PreparedRuntime, t: NodeTrust): SessionOptions {
  const name = `libos_${p.backend}_${p.image.runtime}`;
  const trust: RuntimeTrust = {
    asRootCa: t.asRootCa,
    accepted: [{ name, mrEnclave: p.measurement, mrSigner: t.mrSigner }],
  };
  const c = t.identity.current();
  return {
    runtime: p,
    runtimeName: name,
    issuer: new SimEvidenceIssuer(t.attestation, t.mrSigner),
    trust,
    credentials: { privateKeyPem: c.privateKeyPem, certificatePem: c.certificatePem },
  };
}
