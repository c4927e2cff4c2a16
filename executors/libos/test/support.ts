import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  AGENT_PATH,
  buildImage,
  type LibosBackend,
  type RuntimeName,
  type SessionOptions,
  SimEvidenceIssuer,
} from "@cloister/libos";
import { AttestedIdentity, loadReleaseSigner, SimAttestationService, SimTeeProvider } from "@cloister/tee";

export const IMAGE_CACHE = join(tmpdir(), "cloister-libos-test-images");

/** A node's trust material in a fresh data directory. */
export async function nodeTrust() {
  const dataDir = mkdtempSync(join(tmpdir(), "cloister-libos-exec-"));
  const attestation = await SimAttestationService.loadOrCreate(dataDir);
  const mrSigner = await loadReleaseSigner(dataDir);
  const provider = await SimTeeProvider.create({ dataDir, mrEnclave: Buffer.alloc(32, 9) });
  const identity = await AttestedIdentity.create({ provider, attestationService: attestation });
  const asRootCa = readFileSync(join(dataDir, "as_root_ca.pem"), "utf8");
  return { dataDir, attestation, mrSigner, identity, asRootCa };
}
export type NodeTrust = Awaited<ReturnType<typeof nodeTrust>>;

/** Session options of `runtime` on `backend`, trusting exactly its predicted measurement. */
export async function runtimeSession(
  backend: LibosBackend,
  runtime: RuntimeName,
  t: NodeTrust,
): Promise<() => SessionOptions> {
  const image = await buildImage(runtime, AGENT_PATH, IMAGE_CACHE);
  const policy = join(t.dataDir, `policy-${runtime}.json`);
  writeFileSync(
    policy,
    JSON.stringify({ runtime, asRootCa: t.asRootCa, nodeMrSigners: [t.mrSigner.toString("hex")] }),
  );
  const p = await backend.prepare(image, policy);
  const name = `libos_${p.backend}_${runtime}`;
  const issuer = new SimEvidenceIssuer(t.attestation, t.mrSigner);
  return () => ({
    runtime: p,
    runtimeName: name,
    issuer,
    trust: { asRootCa: t.asRootCa, accepted: [{ name, mrEnclave: p.measurement, mrSigner: t.mrSigner }] },
    credentials: t.identity.current(),
  });
}

export function goProgram(source: string): Buffer {
  const out = join(mkdtempSync(join(tmpdir(), "cloister-go-")), "prog");
  execFileSync("go", ["build", "-o", out, source], {
    env: {
      ...process.env,
      CGO_ENABLED: "0",
      GO111MODULE: "off",
      GOCACHE: join(tmpdir(), "cloister-go-cache"),
    },
  });
  return readFileSync(out);
}
