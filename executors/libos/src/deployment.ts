import { join } from "node:path";
import { ConfigError, type Logger } from "@cloister/core";
import {
  type EnclaveBudget,
  type LibosDeployment,
  LibosUnavailableError,
  loadRuntimeInfo,
  makeBackend,
  prepareRuntimes,
  type RuntimeTrust,
  runtimeEntryName,
  SimEvidenceIssuer,
  withEnclaveBudget,
} from "@cloister/libos";
import type { AttestationService } from "@cloister/tee";
import { LibosExecutor } from "./executor.js";

export interface NodeLibosOptions {
  attestation: AttestationService;
  asRootCaPem: string;
  mrSigner: Buffer;
  credentials: () => { privateKeyPem: string; certificatePem: string };
  poolSize: number;
  memoryBytes: number;
  log?: Logger;
  auditorPublicKeysPem?: string[];
  /** Scratch state of this node's backend (default `<data>/libos/state-<pid>`). */
  stateDir?: string;
  /** The node's EPC allocation: enclave backends charge each instance's declared size to it. */
  enclaveBudget?: EnclaveBudget;
  /** Boot time of every warm instance (seconds), by runtime. */
  onInstanceBooted?: (runtime: string, seconds: number) => void;
}

/**
 * The LibOS executor of an execution node. Refuses to start — never falls back — when the
 * backend cannot run here or a runtime's measurement is not the one runtime_info.toml lists.
 */
export async function createNodeLibosExecutor(
  d: LibosDeployment,
  o: NodeLibosOptions,
): Promise<LibosExecutor> {
  const info = loadRuntimeInfo(d.dataDir, o.auditorPublicKeysPem);
  const made = makeBackend(d, o.stateDir ?? join(d.dataDir, "libos", `state-${process.pid}`));
  const backend = o.enclaveBudget ? withEnclaveBudget(made, o.enclaveBudget) : made;
  if (!backend.simulated) {
    // Hardware quotes need a real (DCAP) attestation service; the simulated one refuses them.
    throw new LibosUnavailableError(
      `the ${d.backend} backend needs a DCAP attestation service, which this deployment does not have`,
    );
  }
  const prepared = await prepareRuntimes(d, backend, { asRootCaPem: o.asRootCaPem, mrSigner: o.mrSigner });
  await backend.probe(prepared.values().next().value!.image);
  const trust: RuntimeTrust = {
    asRootCa: o.asRootCaPem,
    accepted: Object.entries(info).map(([name, e]) => ({
      name,
      mrEnclave: e.mrEnclave,
      mrSigner: e.mrSigner,
    })),
  };
  const issuer = new SimEvidenceIssuer(o.attestation, o.mrSigner);
  const runtimes: ConstructorParameters<typeof LibosExecutor>[0]["runtimes"] = {};
  for (const [runtime, p] of prepared) {
    const name = runtimeEntryName(d.backend, runtime);
    const listed = info[name];
    if (!listed || listed.mrEnclave !== p.measurement || listed.mrSigner !== o.mrSigner.toString("hex")) {
      throw new ConfigError(
        `LibOS runtime ${runtime} measures ${p.measurement}, but runtime_info.toml lists ${listed?.mrEnclave ?? "nothing"} for ${name}: re-run \`cloister platform init\` and have it re-signed`,
      );
    }
    runtimes[runtime] = {
      session: () => ({ runtime: p, runtimeName: name, issuer, trust, credentials: o.credentials() }),
    };
  }
  return new LibosExecutor({
    backend,
    runtimes,
    poolSize: o.poolSize,
    memoryBytes: o.memoryBytes,
    ...(o.log ? { log: o.log } : {}),
    ...(o.onInstanceBooted ? { onInstanceBooted: o.onInstanceBooted } : {}),
  });
}
