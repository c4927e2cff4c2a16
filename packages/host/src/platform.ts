import { existsSync, readFileSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { type CloisterConfig, SERVICE_NAMES } from "@cloister/config";
import { prepareRuntimeInfo } from "@cloister/libos";
import {
  type EnclaveIdentity,
  generateAuditorKey,
  loadReleaseSigner,
  renderEnclaveInfo,
  SimAttestationService,
  signEnclaveInfo,
} from "@cloister/tee";
import { measureOwnCode } from "./context.js";
import { enclaveName } from "./services.js";
import { AUDITORS_DIR, asRootCaPath, enclaveInfoPath } from "./trust.js";

/** The local auditor `cloister up` uses to endorse what it measured. */
export const LOCAL_AUDITOR = "cloister_local_auditor";

export interface PreparedPlatform {
  asRootCa: string;
  enclaveInfo: string;
  auditorSignature: string;
  measurements: Record<string, EnclaveIdentity>;
  /** True when enclave_info.toml was (re)written because the code changed. */
  changed: boolean;
  /** True when there was no enclave_info.toml before (a first start). */
  created: boolean;
}

/**
 * Measurements of every service's current code, as published in enclave_info.toml: under the
 * `combined` topology the services of the control-plane process share that process's measurement.
 */
export async function measurePlatform(config: CloisterConfig): Promise<Record<string, EnclaveIdentity>> {
  const mrSigner = await loadReleaseSigner(config.data_dir);
  const out: Record<string, EnclaveIdentity> = {};
  for (const name of SERVICE_NAMES)
    out[enclaveName(name)] = { mrEnclave: measureOwnCode(name, config.topology), mrSigner };
  return out;
}

/**
 * Everything a deployment needs before its services start, created on first use: the simulated
 * attestation service's root CA (what clients trust), the release signer, enclave_info.toml with
 * the measurements of the code on disk, and a local auditor's signature over it. A real
 * deployment replaces the local auditor by independent ones who sign after reviewing the build.
 */
export async function preparePlatform(config: CloisterConfig): Promise<PreparedPlatform> {
  await mkdir(config.data_dir, { recursive: true, mode: 0o700 });
  if (config.tee.provider === "sim") await SimAttestationService.loadOrCreate(config.data_dir);
  else {
    // Real TEEs: clients trust the verifying attestation service's root instead.
    const { VerifyingAttestationService, OfflineCollateralSource } = await import("@cloister/evidence");
    await VerifyingAttestationService.loadOrCreate(config.data_dir, {
      source: OfflineCollateralSource.fromCollateral([]),
    });
  }
  const measurements = await measurePlatform(config);
  const text = renderEnclaveInfo(measurements);
  const infoPath = enclaveInfoPath(config);
  const created = !existsSync(infoPath);
  const changed = created || readFileSync(infoPath, "utf8") !== text;

  const dir = join(config.data_dir, AUDITORS_DIR);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const privatePath = join(config.data_dir, "auditor-keys", `${LOCAL_AUDITOR}.private.pem`);
  const publicPath = join(dir, `${LOCAL_AUDITOR}.public.pem`);
  let privateKeyPem: string;
  if (existsSync(privatePath) && existsSync(publicPath)) {
    privateKeyPem = readFileSync(privatePath, "utf8");
  } else {
    const key = await generateAuditorKey({ modulusLength: 3072 });
    await mkdir(join(config.data_dir, "auditor-keys"), { recursive: true, mode: 0o700 });
    await writeFile(privatePath, key.privateKeyPem, { mode: 0o600 });
    await writeFile(publicPath, key.publicKeyPem, { mode: 0o644 });
    privateKeyPem = key.privateKeyPem;
  }
  const signaturePath = join(dir, `${LOCAL_AUDITOR}.sign.sha256`);
  if (changed || !existsSync(signaturePath)) {
    await writeFile(infoPath, text, { mode: 0o644 });
    await writeFile(signaturePath, signEnclaveInfo(text, privateKeyPem), { mode: 0o644 });
  }
  // The LibOS runtimes' measurements, endorsed by the same local auditor (runtime_info.toml).
  if (config.execution.executors.includes("libos")) {
    const { libos } = config.execution;
    await prepareRuntimeInfo(
      {
        dataDir: config.data_dir,
        backend: libos.backend,
        runtimes: libos.runtimes,
        imageCache: libos.image_cache,
        gvisorPlatform: libos.gvisor_platform,
      },
      {
        asRootCaPem: readFileSync(asRootCaPath(config), "utf8"),
        mrSigner: await loadReleaseSigner(config.data_dir),
      },
      { name: LOCAL_AUDITOR, privateKeyPem },
    );
  }
  return {
    asRootCa: asRootCaPath(config),
    enclaveInfo: infoPath,
    auditorSignature: signaturePath,
    measurements,
    changed,
    created,
  };
}
