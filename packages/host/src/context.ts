import { type CloisterConfig, type ServiceName, targetOf } from "@cloister/config";
import { ConfigError, createLogger, type Logger } from "@cloister/core";
import { type AttestedServer, attestedChannelCredentials, createAttestedServer } from "@cloister/rpc";
import { AttestedIdentity, measureService, SimAttestationService, SimTeeProvider } from "@cloister/tee";
import type * as grpc from "@grpc/grpc-js";
import { enclaveName, INTERNAL_CLIENTS, serviceCodeDirs } from "./services.js";
import { loadPlatformTrust, type PlatformTrust, policyFor, verifierFor } from "./trust.js";

/** Everything a service needs from its process: identity, trust, servers and peer links. */
export interface ServiceContext {
  readonly name: ServiceName;
  readonly config: CloisterConfig;
  readonly log: Logger;
  readonly identity: AttestedIdentity;
  readonly trust: PlatformTrust;
  /** This service's own MRENCLAVE (hex). */
  readonly mrEnclave: string;
  /** An API endpoint: presents our attested certificate, asks no client certificate. */
  apiServer(): AttestedServer;
  /** An internal endpoint: only the peers of spec/attestation.md §10 get a connection. */
  internalServer(): AttestedServer;
  /** Channel credentials to `peer`: verify it is that service, present our own certificate. */
  peerCredentials(peer: ServiceName): grpc.ChannelCredentials;
  /** `host:port` of a peer's internal endpoint. */
  peerAddress(peer: Exclude<ServiceName, "frontend" | "execution">): string;
  close(): Promise<void>;
}

/** This service's measurement: what it proves in its quote. */
export function measureOwnCode(name: ServiceName): Buffer {
  return measureService(enclaveName(name), serviceCodeDirs(name));
}

export async function createServiceContext(
  name: ServiceName,
  config: CloisterConfig,
): Promise<ServiceContext> {
  const log = createLogger(`cloister-${name.replace("_", "-")}`, config.log_level);
  const trust = loadPlatformTrust(config, { verifyAuditors: true });
  const mrEnclave = measureOwnCode(name);
  const published = trust.enclaveInfo[enclaveName(name)];
  if (!published || published.mrEnclave !== mrEnclave.toString("hex")) {
    // Peers would refuse us anyway; say why now instead of failing every connection later.
    throw new ConfigError(
      `the ${name} service's code measures ${mrEnclave.toString("hex")}, but enclave_info.toml publishes ` +
        `${published?.mrEnclave ?? "nothing"} for ${enclaveName(name)}: re-run \`cloister platform init\` (and have it re-signed)`,
    );
  }
  const provider = await SimTeeProvider.create({ mrEnclave, dataDir: config.data_dir });
  const attestationService = await SimAttestationService.loadOrCreate(config.data_dir);
  const identity = await AttestedIdentity.create({
    provider,
    attestationService,
    reattestIntervalMs: config.tee.reattest_interval_secs * 1000,
  });
  identity.on("renewed", () => log.info("re-attested: new key and certificate for new connections"));
  log.info(
    { mrEnclave: mrEnclave.toString("hex"), tee: provider.kind, simulated: provider.simulated },
    "attested",
  );

  const clients = INTERNAL_CLIENTS[name] ?? [];
  const credentials = new Map<ServiceName, grpc.ChannelCredentials>();
  return {
    name,
    config,
    log,
    identity,
    trust,
    mrEnclave: mrEnclave.toString("hex"),
    apiServer: () => createAttestedServer({ identity, logger: log }),
    internalServer: () =>
      createAttestedServer({
        identity,
        verifyClient: verifierFor(policyFor(trust, clients.map(enclaveName))),
        logger: log,
      }),
    peerCredentials(peer) {
      let c = credentials.get(peer);
      if (!c) {
        c = attestedChannelCredentials({
          verifyServer: verifierFor(policyFor(trust, [enclaveName(peer)])),
          identity,
        });
        credentials.set(peer, c);
      }
      return c;
    },
    peerAddress: (peer) => targetOf(config.advertised[peer]),
    async close() {
      identity.close();
    },
  };
}
