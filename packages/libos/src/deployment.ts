import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import { ConfigError } from "@cloister/core";
import {
  type EnclaveIdentity,
  type EnclaveInfo,
  parseEnclaveInfo,
  renderEnclaveInfo,
  signEnclaveInfo,
  verifyEnclaveInfoSignatures,
} from "@cloister/tee";
import type { BackendKind, LibosBackend, PreparedRuntime } from "./backend.js";
import { BwrapBackend } from "./bwrap.js";
import { LibosUnavailableError } from "./errors.js";
import type { RuntimeTrust } from "./evidence.js";
import { GramineBackend } from "./gramine.js";
import { GvisorBackend } from "./gvisor.js";
import { AGENT_PATH, buildImage } from "./image.js";
import type { RuntimeName } from "./runtimes.js";

/** What a deployment offers: which backend, which runtimes, where images are cached. */
export interface LibosDeployment {
  dataDir: string;
  backend: BackendKind;
  runtimes: readonly RuntimeName[];
  /** Default `~/.cache/cloister/libos-images` (images are content-addressed and shared). */
  imageCache?: string;
  gvisorPlatform?: string;
}

/** Beside enclave_info.toml: the runtime measurements data owners approve. */
export const RUNTIME_INFO_FILE = "runtime_info.toml";
/** Auditor signatures over runtime_info.toml's exact bytes: `auditors/<auditor>.runtime_info.sig`. */
export const RUNTIME_INFO_SIGNATURE_SUFFIX = ".runtime_info.sig";

export const runtimeEntryName = (backend: BackendKind, runtime: RuntimeName) =>
  `libos_${backend.replace("-", "_")}_${runtime}`;

const imageCacheOf = (d: LibosDeployment) =>
  d.imageCache || join(homedir(), ".cache", "cloister", "libos-images");

/**
 * The agent's trust policy for this deployment (measured with the runtime): the attestation root
 * and the node signer it accepts. Written only when it changes, so its hash is stable.
 */
export function writePolicy(
  dataDir: string,
  runtime: RuntimeName,
  asRootCaPem: string,
  mrSigner: Buffer,
): string {
  const path = join(dataDir, "libos", `policy-${runtime}.json`);
  const text = `${JSON.stringify({ runtime, asRootCa: asRootCaPem, nodeMrSigners: [mrSigner.toString("hex")] })}\n`;
  if (!existsSync(path) || readFileSync(path, "utf8") !== text) writeFileSync(path, text, { mode: 0o644 });
  return path;
}

export function makeBackend(d: LibosDeployment, stateDir: string): LibosBackend {
  switch (d.backend) {
    case "gvisor":
      return new GvisorBackend({ stateDir, ...(d.gvisorPlatform ? { platform: d.gvisorPlatform } : {}) });
    case "bwrap":
      return new BwrapBackend({ stateDir });
    case "gramine-direct":
      return new GramineBackend({ mode: "direct", stateDir });
    case "gramine-sgx":
      return new GramineBackend({
        mode: "sgx",
        stateDir,
        signingKey: join(d.dataDir, "libos", "enclave-key.pem"),
      });
    default:
      throw new LibosUnavailableError(`unknown LibOS backend ${String(d.backend)}`);
  }
}

/** Builds (or finds) every offered runtime image and predicts its measurement. */
export async function prepareRuntimes(
  d: LibosDeployment,
  backend: LibosBackend,
  trust: { asRootCaPem: string; mrSigner: Buffer },
): Promise<Map<RuntimeName, PreparedRuntime>> {
  await mkdir(join(d.dataDir, "libos"), { recursive: true, mode: 0o700 });
  const out = new Map<RuntimeName, PreparedRuntime>();
  for (const runtime of d.runtimes) {
    const image = await buildImage(runtime, AGENT_PATH, imageCacheOf(d));
    out.set(
      runtime,
      await backend.prepare(image, writePolicy(d.dataDir, runtime, trust.asRootCaPem, trust.mrSigner)),
    );
  }
  return out;
}

/**
 * Measures the offered runtimes and writes runtime_info.toml with a local auditor's signature
 * (what `cloister up` does for enclave_info.toml). A real deployment has independent auditors
 * sign after rebuilding the images themselves.
 */
export async function prepareRuntimeInfo(
  d: LibosDeployment,
  trust: { asRootCaPem: string; mrSigner: Buffer },
  auditor: { name: string; privateKeyPem: string },
): Promise<{ path: string; entries: Record<string, EnclaveIdentity>; changed: boolean }> {
  const backend = makeBackend(d, join(d.dataDir, "libos", "measure-state"));
  const prepared = await prepareRuntimes(d, backend, trust);
  const entries: Record<string, EnclaveIdentity> = {};
  for (const [runtime, p] of prepared) {
    entries[runtimeEntryName(d.backend, runtime)] = { mrEnclave: p.measurement, mrSigner: trust.mrSigner };
  }
  const text = renderEnclaveInfo(entries);
  const path = join(d.dataDir, RUNTIME_INFO_FILE);
  const signature = join(d.dataDir, "auditors", `${auditor.name}${RUNTIME_INFO_SIGNATURE_SUFFIX}`);
  const changed = !existsSync(path) || readFileSync(path, "utf8") !== text || !existsSync(signature);
  if (changed) {
    await mkdir(join(d.dataDir, "auditors"), { recursive: true, mode: 0o700 });
    await writeFile(path, text, { mode: 0o644 });
    await writeFile(signature, signEnclaveInfo(text, auditor.privateKeyPem), { mode: 0o644 });
  }
  return { path, entries, changed };
}

/**
 * Reads runtime_info.toml and checks its auditor signatures: at least one, and every one valid
 * under an auditor key (`auditors/*.public.pem`). Throws ConfigError / AttestationError.
 */
export function loadRuntimeInfo(dataDir: string, auditorPublicKeysPem?: string[]): EnclaveInfo {
  const path = join(dataDir, RUNTIME_INFO_FILE);
  if (!existsSync(path)) {
    throw new ConfigError(
      `${path} is missing: run \`cloister up\` (or \`cloister platform init\`) to measure the LibOS runtimes`,
    );
  }
  const bytes = readFileSync(path);
  const dir = join(dataDir, "auditors");
  const files = existsSync(dir) ? readdirSync(dir).sort() : [];
  const keys =
    auditorPublicKeysPem ??
    files.filter((f) => f.endsWith(".public.pem")).map((f) => readFileSync(join(dir, f), "utf8"));
  const sigs = files
    .filter((f) => f.endsWith(RUNTIME_INFO_SIGNATURE_SUFFIX))
    .map((f) => readFileSync(join(dir, f)));
  verifyEnclaveInfoSignatures(bytes, sigs, keys, { minSignatures: 1 });
  return parseEnclaveInfo(bytes);
}

/**
 * What a data owner trusts for LibOS evidence, from a platform's published files: the
 * attestation root (`as_root_ca.pem`) and the auditor-signed runtime_info.toml.
 */
export function runtimeTrustFromDataDir(dataDir: string, auditorPublicKeysPem?: string[]): RuntimeTrust {
  const info = loadRuntimeInfo(dataDir, auditorPublicKeysPem);
  return {
    asRootCa: readFileSync(join(dataDir, "as_root_ca.pem"), "utf8"),
    accepted: Object.entries(info).map(([name, e]) => ({
      name,
      mrEnclave: e.mrEnclave,
      mrSigner: e.mrSigner,
    })),
  };
}
