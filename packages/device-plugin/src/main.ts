#!/usr/bin/env node
import { ConfigError, createLogger } from "@cloister/core";
// `cloister-device-plugin`: advertise this node's enclave memory to the kubelet.
import { Command, InvalidArgumentError } from "commander";
import { discoverTee, type TeeMode } from "./discovery.js";
import { EpcResource, type PluginResource, SharedDeviceResource } from "./epc.js";
import { type ApiServer, inClusterApiServer, publishNodeCapacity } from "./node-capacity.js";
import {
  CloisterDevicePlugin,
  DEFAULT_DEVICE_PLUGIN_DIR,
  RESOURCE_NAMES,
  type ResourceModel,
} from "./plugin.js";

const positiveInt = (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError("expected a positive whole number");
  return n;
};

const program = new Command()
  .name("cloister-device-plugin")
  .description("Kubernetes device plugin (v1beta1) advertising TEE enclave memory as an extended resource")
  .option("--device-plugin-dir <dir>", "the kubelet's device-plugin directory", DEFAULT_DEVICE_PLUGIN_DIR)
  .option(
    "--resource-model <model>",
    `aliyun: ${RESOURCE_NAMES.aliyunEpc} (one device per MiB); intel: ${RESOURCE_NAMES.intelEpc} (bytes, node capacity), ${RESOURCE_NAMES.intelEnclave} and ${RESOURCE_NAMES.intelProvision}`,
    "aliyun",
  )
  .option("--provision <bool>", "aliyun model: also hand out the provisioning device nodes", "false")
  .option(
    "--enclave-limit <n>",
    "intel model: containers per node that may hold the enclave device",
    positiveInt,
    110,
  )
  .option(
    "--provision-limit <n>",
    "intel model: containers per node that may hold the provision device",
    positiveInt,
    110,
  )
  .option(
    "--node-name <name>",
    "intel model: this node's name (to publish its EPC capacity)",
    process.env.NODE_NAME,
  )
  .option("--api-server <url>", "intel model: API server URL (default: the in-cluster one)")
  .option("--mode <mode>", "auto (hardware if /dev/sgx_enclave exists), sgx or simulated", "auto")
  .option("--chunk-mib <n>", "MiB of EPC per advertised device", positiveInt, 1)
  .option("--epc-mib <n>", "EPC size to advertise on SGX hardware instead of the sysfs value", positiveInt)
  .option(
    "--simulated-epc-mib <n>",
    "without TEE hardware: advertise this much SIMULATED enclave memory",
    positiveInt,
  )
  .option("--sysfs-root <dir>", "where the host's /sys is visible", "/sys")
  .option("--proc-root <dir>", "where the host's /proc is visible", "/proc")
  .option("--dev-root <dir>", "where the host's /dev is visible", "/dev")
  .option("--health-interval <seconds>", "device health check period", positiveInt, 10)
  .option(
    "--log-level <level>",
    "fatal, error, warn, info, debug, trace",
    process.env.CLOISTER_LOG_LEVEL ?? "info",
  );

async function main(): Promise<void> {
  const o = program.parse().opts<{
    devicePluginDir: string;
    resourceModel: string;
    provision: string;
    enclaveLimit: number;
    provisionLimit: number;
    nodeName?: string;
    apiServer?: string;
    mode: string;
    chunkMib: number;
    epcMib?: number;
    simulatedEpcMib?: number;
    sysfsRoot: string;
    procRoot: string;
    devRoot: string;
    healthInterval: number;
    logLevel: string;
  }>();
  if (!["auto", "sgx", "simulated"].includes(o.mode))
    throw new ConfigError(`--mode must be auto, sgx or simulated, not ${o.mode}`);
  if (!["aliyun", "intel"].includes(o.resourceModel))
    throw new ConfigError(`--resource-model must be aliyun or intel, not ${o.resourceModel}`);
  if (!["true", "false"].includes(o.provision)) throw new ConfigError("--provision must be true or false");
  const model = o.resourceModel as ResourceModel;
  const log = createLogger("cloister-device-plugin", o.logLevel);
  const inventory = discoverTee({
    mode: o.mode as TeeMode,
    sysfsRoot: o.sysfsRoot,
    procRoot: o.procRoot,
    devRoot: o.devRoot,
    epcMib: o.epcMib,
    simulatedEpcMib: o.simulatedEpcMib,
  });
  const epc = new EpcResource({
    inventory,
    chunkMib: o.chunkMib,
    devRoot: o.devRoot,
    provision: o.provision === "true",
  });
  if (inventory.simulated) {
    log.warn(
      { epcMib: epc.totalMib },
      "SIMULATED enclave memory: no TEE hardware behind this resource; for testing scheduling only",
    );
  } else if (inventory.kind === "none") {
    log.warn(
      "no TEE on this node: registering with zero devices (pass --simulated-epc-mib to exercise scheduling without hardware)",
    );
  }
  log.info(
    {
      model,
      kind: inventory.kind,
      source: inventory.source,
      cpuSgxFlag: inventory.cpuSgxFlag,
      deviceNodes: inventory.deviceNodes,
      epcMib: epc.totalMib,
      chunkMib: o.chunkMib,
    },
    "TEE discovered",
  );
  const served: Array<[string, PluginResource]> =
    model === "aliyun"
      ? [[RESOURCE_NAMES.aliyunEpc, epc]]
      : [
          [
            RESOURCE_NAMES.intelEnclave,
            new SharedDeviceResource({
              inventory,
              nodes: "enclave",
              limit: o.enclaveLimit,
              devRoot: o.devRoot,
            }),
          ],
          [
            RESOURCE_NAMES.intelProvision,
            new SharedDeviceResource({
              inventory,
              nodes: "provision",
              limit: o.provisionLimit,
              devRoot: o.devRoot,
            }),
          ],
        ];
  if (model === "intel") {
    if (!o.nodeName)
      throw new ConfigError(
        "--resource-model intel needs --node-name (or NODE_NAME) to publish EPC capacity",
      );
    const api: ApiServer = o.apiServer
      ? { url: o.apiServer, token: process.env.CLOISTER_API_TOKEN ?? "" }
      : inClusterApiServer();
    const bytes = String(epc.totalMib * 1024 * 1024);
    await publishNodeCapacity(api, o.nodeName, RESOURCE_NAMES.intelEpc, bytes);
    log.info({ node: o.nodeName, resource: RESOURCE_NAMES.intelEpc, bytes }, "published EPC capacity");
  }
  const plugins = served.map(
    ([resourceName, resource]) =>
      new CloisterDevicePlugin({
        resourceName,
        resource,
        pluginDir: o.devicePluginDir,
        healthIntervalMs: o.healthInterval * 1000,
        log,
      }),
  );
  for (const plugin of plugins) await plugin.start();
  const stop = async (signal: string) => {
    log.info({ signal }, "stopping");
    for (const plugin of plugins) await plugin.stop();
    log.flush?.();
    process.exit(0);
  };
  process.on("SIGINT", () => void stop("SIGINT"));
  process.on("SIGTERM", () => void stop("SIGTERM"));
}

main().catch((e: unknown) => {
  console.error(`cloister-device-plugin: ${(e as Error).message ?? String(e)}`);
  process.exit(1);
});
