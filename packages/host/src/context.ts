import { readFileSync } from "node:fs";
import { type CloisterConfig, type ServiceName, targetOf } from "@cloister/config";
import { ConfigError, createLogger, type Logger } from "@cloister/core";
import {
  HealthState,
  healthServiceImplementation,
  localCallMetrics,
  metricsInterceptor,
  type OpsServer,
  ServiceMetrics,
  startOpsServer,
} from "@cloister/observability";
import { health } from "@cloister/proto";
import {
  type AttestedServer,
  attestedChannelCredentials,
  createAttestedServer,
  createClient,
  INTERNAL_MAX_MESSAGE_BYTES,
  type LocalClientConstructor,
  localClient,
  type VerifiedPeerInfo,
} from "@cloister/rpc";
import { type KvStore, RemoteKvStore } from "@cloister/storage";
import {
  type AttestationPolicy,
  AttestedIdentity,
  measureService,
  SimAttestationService,
  SimTeeProvider,
} from "@cloister/tee";
import * as grpc from "@grpc/grpc-js";
import { ColocatedServices } from "./colocated.js";
import { enclaveName, INTERNAL_CLIENTS, measuredName, processCodeDirs, processOf } from "./services.js";
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
  /** Prometheus series of this process (served on the operations endpoint). */
  readonly metrics: ServiceMetrics;
  /** Readiness: named dependency checks, served by grpc.health.v1 and /readyz. */
  readonly health: HealthState;
  /** The operations endpoint, when `ops.listen.<service>` configures one. */
  readonly ops: OpsServer | undefined;
  /** An API endpoint: presents our attested certificate, asks no client certificate. */
  apiServer(): AttestedServer;
  /** An internal endpoint: only the peers of the legacy contract get a connection. */
  internalServer(): AttestedServer;
  /** Channel credentials to `peer`: verify it is that service, present our own certificate. */
  peerCredentials(peer: ServiceName): grpc.ChannelCredentials;
  /** `host:port` of a peer's internal endpoint. */
  peerAddress(peer: Exclude<ServiceName, "frontend" | "execution">): string;
  /**
   * A client of a peer's internal endpoint: in process when the peer runs in this process (the
   * same layers and policy, no TLS), else over attested TLS to its advertised address.
   */
  peerClient<C extends grpc.Client>(Client: LocalClientConstructor<C>, peer: InternalPeer): C;
  /** The storage service's store: storage's own when it runs in this process, else its RPC client. */
  peerStore(): KvStore;
  /** Storage only: offer its sealed store to the services of this process. */
  shareStore(store: KvStore): void;
  /** The services this process runs with this one. */
  readonly colocated: ColocatedServices;
  close(): Promise<void>;
}

type InternalPeer = Exclude<ServiceName, "frontend" | "execution">;

/**
 * The measurement of the process that runs `name` under `topology`: what it proves in its quote.
 * A process of several services is one measured unit (one enclave), covering all their code.
 */
export function measureOwnCode(name: ServiceName, topology: CloisterConfig["topology"]): Buffer {
  const spec = processOf(name, topology);
  const unit = measuredName(spec);
  // Once per measured unit and process: the six services of a combined process (and
  // enclave_info's six entries for it) share one measurement of the code this process loaded.
  let measured = measurements.get(unit);
  if (!measured) {
    measured = measureService(unit, processCodeDirs(spec));
    measurements.set(unit, measured);
  }
  return Buffer.from(measured);
}
const measurements = new Map<string, Buffer>();

/** The TEE provider and attestation service the configuration asks for. */
async function attestationFor(name: ServiceName, config: CloisterConfig) {
  if (config.tee.provider === "sim") {
    const provider = await SimTeeProvider.create({
      mrEnclave: measureOwnCode(name, config.topology),
      dataDir: config.data_dir,
    });
    return { provider, attestationService: await SimAttestationService.loadOrCreate(config.data_dir) };
  }
  const { createHardwareAttestation } = await import("@cloister/evidence");
  return createHardwareAttestation({
    provider: config.tee.provider,
    dataDir: config.data_dir,
    gramineRoot: config.tee.gramine_root,
    tsmRoot: config.tee.tsm_root,
    collateral: config.tee.collateral,
    onlineCollateral: config.tee.online_collateral,
    pcsUrl: config.tee.pcs_url,
    policyFile: config.tee.evidence_policy,
  });
}

export async function createServiceContext(
  name: ServiceName,
  config: CloisterConfig,
  colocated: ColocatedServices = new ColocatedServices(processOf(name, "split")),
): Promise<ServiceContext> {
  const log = createLogger(`cloister-${name.replace("_", "-")}`, config.log_level);
  const trust = loadPlatformTrust(config, { verifyAuditors: true });
  const { provider, attestationService } = await attestationFor(name, config);
  // On real TEEs peers must be real too, and their embedded evidence is checked again here.
  const recheck = provider.simulated
    ? undefined
    : (await import("@cloister/evidence")).recheckHardwareEvidence;
  const peerPolicy = (enclaves: string[]): AttestationPolicy =>
    recheck
      ? { ...policyFor(trust, enclaves), rejectSimulated: true, verifyHardwareEvidence: recheck }
      : policyFor(trust, enclaves);
  const mrEnclave = provider.measurement.mrEnclave;
  const published = trust.enclaveInfo[enclaveName(name)];
  if (!published || published.mrEnclave !== mrEnclave.toString("hex")) {
    // Peers would refuse us anyway; say why now instead of failing every connection later.
    throw new ConfigError(
      `the ${name} service's ${provider.simulated ? "code" : `${provider.kind} enclave`} measures ${mrEnclave.toString("hex")}, but enclave_info.toml publishes ` +
        `${published?.mrEnclave ?? "nothing"} for ${enclaveName(name)}: re-run \`cloister platform init\` (and have it re-signed)`,
    );
  }
  const identity = await AttestedIdentity.create({
    provider,
    attestationService,
    reattestIntervalMs: config.tee.reattest_interval_secs * 1000,
  });
  const metrics = new ServiceMetrics(name);
  const healthState = new HealthState();
  identity.on("renewed", () => {
    metrics.attestationRefreshes.inc();
    log.info("re-attested: new key and certificate for new connections");
  });
  log.info(
    { mrEnclave: mrEnclave.toString("hex"), tee: provider.kind, simulated: provider.simulated },
    "attested",
  );

  const clients = INTERNAL_CLIENTS[name] ?? [];
  /** This service as a co-hosted peer sees it: what verifying our certificate would have proved. */
  const self: VerifiedPeerInfo = {
    name: enclaveName(name),
    mrEnclave: mrEnclave.toString("hex"),
    mrSigner: published.mrSigner,
    simulated: provider.simulated,
  };
  const credentials = new Map<ServiceName, grpc.ChannelCredentials>();
  const interceptors = [metricsInterceptor(metrics)];
  /** Every attested server answers grpc.health.v1 from the same dependency checks. */
  const withHealth = (server: AttestedServer): AttestedServer => {
    server.addService(
      health.HealthService,
      healthServiceImplementation(healthState, () => server.serviceNames()),
    );
    return server;
  };
  const peerCredentials = (peer: ServiceName): grpc.ChannelCredentials => {
    let c = credentials.get(peer);
    if (!c) {
      c = attestedChannelCredentials({
        verifyServer: verifierFor(peerPolicy([enclaveName(peer)])),
        identity,
      });
      credentials.set(peer, c);
      // A peer this service talks to is a dependency of its readiness: reachable and attested.
      const target =
        peer === "frontend" || peer === "execution" ? undefined : targetOf(config.advertised[peer]);
      if (target) healthState.addCheck(peer, () => reachable(target, c as grpc.ChannelCredentials));
    }
    return c;
  };
  const opsListen = config.ops.listen[name];
  const ops = opsListen
    ? await startOpsServer({
        listen: opsListen,
        service: name,
        version: SERVICE_VERSION,
        mrEnclave: mrEnclave.toString("hex"),
        metrics,
        health: healthState,
      })
    : undefined;
  if (ops) log.info({ address: ops.address }, "operations endpoint (metrics, health) listening");
  return {
    name,
    config,
    log,
    identity,
    trust,
    mrEnclave: mrEnclave.toString("hex"),
    metrics,
    health: healthState,
    ops,
    apiServer: () => withHealth(createAttestedServer({ identity, logger: log, interceptors })),
    internalServer: () => {
      const server = withHealth(
        createAttestedServer({
          identity,
          verifyClient: verifierFor(peerPolicy(clients.map(enclaveName))),
          maxMessageBytes: INTERNAL_MAX_MESSAGE_BYTES,
          logger: log,
          interceptors,
          onLocalCall: localCallMetrics(metrics),
        }),
      );
      colocated.offerServer(name, server);
      return server;
    },
    peerCredentials,
    peerAddress: (peer) => targetOf(config.advertised[peer]),
    peerClient<C extends grpc.Client>(Client: LocalClientConstructor<C>, peer: InternalPeer): C {
      if (!colocated.hosts(peer)) {
        return createClient(Client, targetOf(config.advertised[peer]), peerCredentials(peer));
      }
      admittedBy(peer, name);
      healthState.addCheck(peer, async () => void colocated.serverOf(peer));
      // In process: the peer's own endpoint with its layers and policy (see ColocatedServices),
      // seeing this service as its caller, as the connection check would have.
      return localClient(Client, colocated.serverOf(peer), self);
    },
    peerStore(): KvStore {
      if (!colocated.hosts("storage")) {
        return new RemoteKvStore(targetOf(config.advertised.storage), peerCredentials("storage"));
      }
      admittedBy("storage", name);
      const store = colocated.borrowStore();
      // Readiness of a co-hosted store: it answers a read.
      healthState.addCheck("storage", async () => void (await store.get(READINESS_PROBE_KEY)));
      return store;
    },
    shareStore(store) {
      if (name !== "storage") throw new Error("only the storage service shares its store");
      colocated.offerStore(store);
    },
    colocated,
    async close() {
      healthState.setStopping();
      await ops?.close();
      identity.close();
    },
  };
}

const SERVICE_VERSION: string = (() => {
  try {
    const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
      version?: string;
    };
    return pkg.version ?? "unknown";
  } catch {
    return "unknown";
  }
})();

/** A key no record uses: what the readiness check of a co-hosted store reads. */
const READINESS_PROBE_KEY = Buffer.from("cloister-readiness-probe");

/** A co-hosted link is made only where the peer's endpoint would admit the caller over the network. */
function admittedBy(peer: ServiceName, caller: ServiceName): void {
  if (!(INTERNAL_CLIENTS[peer] ?? []).includes(caller))
    throw new ConfigError(`the ${peer} service's internal endpoint does not admit the ${caller} service`);
}

/** Opens an attested connection to `target` and waits until it is ready (TLS and attestation done). */
function reachable(target: string, credentials: grpc.ChannelCredentials): Promise<void> {
  const client = new grpc.Client(target, credentials);
  return new Promise<void>((resolve, reject) => {
    client.waitForReady(Date.now() + 2500, (err) => {
      client.close();
      if (err) reject(new Error(`${target} is not reachable or not attested: ${err.message}`));
      else resolve();
    });
  });
}
