// What a service process needs to attest on real hardware: the provider for its TEE and the
// verifying attestation service with its collateral sources and policy.
import { ConfigError } from "@cloister/core";
import { GramineTeeProvider, type TeeProvider, TsmTeeProvider } from "@cloister/tee";
import { VerifyingAttestationService } from "./attestation-service.js";
import {
  AmdKdsFetcher,
  CachedCollateralSource,
  ChainedCollateralSource,
  type CollateralSource,
  IntelPcsFetcher,
  OfflineCollateralSource,
} from "./collateral-source.js";
import { defaultPolicy, readPolicyFile } from "./policy.js";

export interface HardwareAttestationOptions {
  provider: "gramine" | "tsm";
  dataDir: string;
  gramineRoot?: string;
  tsmRoot?: string;
  /** Offline collateral paths. */
  collateral?: string[];
  onlineCollateral?: boolean;
  pcsUrl?: string | undefined;
  policyFile?: string | undefined;
}

export function collateralSourceFor(
  o: Pick<HardwareAttestationOptions, "collateral" | "onlineCollateral" | "pcsUrl">,
): CollateralSource {
  const sources: CollateralSource[] = [OfflineCollateralSource.fromPaths(o.collateral ?? [])];
  if (o.onlineCollateral) {
    const now = () => new Date();
    sources.push(
      new CachedCollateralSource(new IntelPcsFetcher(o.pcsUrl ? { baseUrl: o.pcsUrl } : {}), { now }),
    );
    sources.push(new CachedCollateralSource(new AmdKdsFetcher(), { now }));
  }
  return new ChainedCollateralSource(sources);
}

export async function createHardwareAttestation(
  o: HardwareAttestationOptions,
): Promise<{ provider: TeeProvider; attestationService: VerifyingAttestationService }> {
  const policy = o.policyFile ? readPolicyFile(o.policyFile) : defaultPolicy();
  const attestationService = await VerifyingAttestationService.loadOrCreate(o.dataDir, {
    source: collateralSourceFor(o),
    policy,
  });
  let provider: TeeProvider;
  if (o.provider === "gramine")
    provider = await GramineTeeProvider.create(o.gramineRoot ? { root: o.gramineRoot } : {});
  else if (o.provider === "tsm") provider = await TsmTeeProvider.create(o.tsmRoot ? { root: o.tsmRoot } : {});
  else throw new ConfigError(`unknown TEE provider ${String(o.provider)}`);
  return { provider, attestationService };
}
