#!/usr/bin/env node
import { ConfigError, createLogger } from "@cloister/core";
// `cloister-device-plugin`: advertise this node's enclave memory to the kubelet.
import { Command, InvalidArgumentError } from "commander";
import { discoverTee, type TeeMode } from "./discovery.js";
import { EpcResource } from "./epc.js";
import { CloisterDevicePlugin, DEFAULT_DEVICE_PLUGIN_DIR, DEFAULT_RESOURCE_NAME } from "./plugin.js";

const positiveInt = (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError("expected a positive whole number");
  return n;
};

const program = new Command()
  .name("cloister-device-plugin")
  .description("Kubernetes device plugin (v1beta1) advertising TEE enclave memory as an extended resource")
  .option("--device-plugin-dir <dir>", "the kubelet's device-plugin directory", DEFAULT_DEVICE_PLUGIN_DIR)
  .option("--resource-name <name>", "extended resource to advertise", DEFAULT_RESOURCE_NAME)
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
    resourceName: string;
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
  const log = createLogger("cloister-device-plugin", o.logLevel);
  const inventory = discoverTee({
    mode: o.mode as TeeMode,
    sysfsRoot: o.sysfsRoot,
    procRoot: o.procRoot,
    devRoot: o.devRoot,
    epcMib: o.epcMib,
    simulatedEpcMib: o.simulatedEpcMib,
  });
  const resource = new EpcResource({ inventory, chunkMib: o.chunkMib, devRoot: o.devRoot });
  if (inventory.simulated) {
    log.warn(
      { epcMib: resource.totalMib },
      "SIMULATED enclave memory: no TEE hardware behind this resource; for testing scheduling only",
    );
  } else if (inventory.kind === "none") {
    log.warn(
      "no TEE on this node: registering with zero devices (pass --simulated-epc-mib to exercise scheduling without hardware)",
    );
  }
  log.info(
    {
      kind: inventory.kind,
      source: inventory.source,
      cpuSgxFlag: inventory.cpuSgxFlag,
      deviceNodes: inventory.deviceNodes,
      epcMib: resource.totalMib,
      chunkMib: o.chunkMib,
    },
    "TEE discovered",
  );
  const plugin = new CloisterDevicePlugin({
    resourceName: o.resourceName,
    resource,
    pluginDir: o.devicePluginDir,
    healthIntervalMs: o.healthInterval * 1000,
    log,
  });
  await plugin.start();
  const stop = async (signal: string) => {
    log.info({ signal }, "stopping");
    await plugin.stop();
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
