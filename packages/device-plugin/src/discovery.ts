// What TEE this node has and how much enclave memory (EPC) it offers. Everything is read from
// the host's /sys, /proc and /dev, whose locations are parameters because the plugin usually
// runs in a container that sees the host's trees under other paths.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { ConfigError } from "@cloister/core";

/** `auto`: hardware when /dev/sgx_enclave exists, else simulation when a simulated size is given. */
export type TeeMode = "auto" | "sgx" | "simulated";

export interface DiscoveryOptions {
  mode: TeeMode;
  /** Where the host's /sys is visible. */
  sysfsRoot?: string;
  /** Where the host's /proc is visible. */
  procRoot?: string;
  /** Where the host's /dev is visible (device paths handed to the kubelet are always /dev/...). */
  devRoot?: string;
  /** EPC size to advertise on SGX hardware, overriding what sysfs reports (MiB). */
  epcMib?: number | undefined;
  /** EPC size to pretend in simulation mode (MiB). */
  simulatedEpcMib?: number | undefined;
}

/**
 * SGX device nodes a container may need: the in-kernel driver's (Linux 5.11+), the `/dev/sgx/`
 * links older DCAP drivers and some runtimes use, and the legacy out-of-tree driver's `isgx`.
 */
export const SGX_ENCLAVE_NODES = ["sgx_enclave", "sgx/enclave", "isgx"] as const;
/** Nodes that grant access to the provisioning key (PCK-derived keys for DCAP quotes). */
export const SGX_PROVISION_NODES = ["sgx_provision", "sgx/provision"] as const;
export const SGX_DEVICE_NODES = [...SGX_ENCLAVE_NODES, ...SGX_PROVISION_NODES] as const;
export type SgxDeviceNode = (typeof SGX_DEVICE_NODES)[number];

/** Whether an enclave can be created: any enclave device node is present. */
export const hasEnclaveNode = (nodes: readonly SgxDeviceNode[]): boolean =>
  nodes.some((n) => (SGX_ENCLAVE_NODES as readonly string[]).includes(n));

export interface EpcRegion {
  /** NUMA node of this EPC section; undefined when the host does not say. */
  numaNode: number | undefined;
  mib: number;
}

export interface TeeInventory {
  kind: "sgx" | "simulated" | "none";
  /** True when no hardware stands behind what is advertised. */
  simulated: boolean;
  epc: EpcRegion[];
  /** SGX device nodes present under the dev root. */
  deviceNodes: SgxDeviceNode[];
  /** Where the EPC size came from, for the start-up log. */
  source: string;
  /** Whether /proc/cpuinfo lists the `sgx` CPU flag (informational: VMs may hide flags). */
  cpuSgxFlag: boolean;
}

const MIB = 1024 * 1024;

function positiveMib(value: number | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  if (!Number.isInteger(value) || value <= 0)
    throw new ConfigError(`${flag} must be a positive whole number of MiB`);
  return value;
}

/** Whether the `sgx` flag appears on a `flags` line of cpuinfo. */
export function cpuinfoHasSgx(cpuinfo: string): boolean {
  return cpuinfo.split("\n").some((line) => /^flags\s*:/.test(line) && line.split(/\s+/).includes("sgx"));
}

/**
 * EPC per NUMA node from `devices/system/node/node<N>/x86/sgx_total_bytes` (Linux 6.0+). Empty when
 * the kernel does not publish it.
 */
export function readSysfsEpc(sysfsRoot: string): EpcRegion[] {
  const nodes = join(sysfsRoot, "devices", "system", "node");
  if (!existsSync(nodes)) return [];
  const out: EpcRegion[] = [];
  for (const name of readdirSync(nodes).sort()) {
    const m = /^node(\d+)$/.exec(name);
    if (!m) continue;
    const file = join(nodes, name, "x86", "sgx_total_bytes");
    if (!existsSync(file)) continue;
    const bytes = Number.parseInt(readFileSync(file, "utf8").trim(), 10);
    if (!Number.isFinite(bytes) || bytes < 0) throw new ConfigError(`unreadable EPC size in ${file}`);
    const mib = Math.floor(bytes / MIB);
    if (mib > 0) out.push({ numaNode: Number(m[1]), mib });
  }
  return out;
}

/** SGX device nodes present now (re-read on every health check). */
export function presentDeviceNodes(devRoot: string): SgxDeviceNode[] {
  return SGX_DEVICE_NODES.filter((n) => existsSync(join(devRoot, n)));
}

/** Find the node's TEE and its EPC, or fail with a ConfigError that says what to configure. */
export function discoverTee(options: DiscoveryOptions): TeeInventory {
  const sysfsRoot = options.sysfsRoot ?? "/sys";
  const procRoot = options.procRoot ?? "/proc";
  const devRoot = options.devRoot ?? "/dev";
  const epcMib = positiveMib(options.epcMib, "--epc-mib");
  const simulatedEpcMib = positiveMib(options.simulatedEpcMib, "--simulated-epc-mib");

  let cpuSgxFlag = false;
  try {
    cpuSgxFlag = cpuinfoHasSgx(readFileSync(join(procRoot, "cpuinfo"), "utf8"));
  } catch {
    // No cpuinfo (non-Linux test hosts): the device node alone decides.
  }
  const deviceNodes = presentDeviceNodes(devRoot);
  const hardware = hasEnclaveNode(deviceNodes);

  const useHardware = options.mode === "sgx" || (options.mode === "auto" && hardware);
  if (useHardware) {
    if (!hardware) {
      throw new ConfigError(
        `mode sgx, but ${join(devRoot, "sgx_enclave")} does not exist (is the in-kernel SGX driver loaded?)`,
      );
    }
    if (epcMib !== undefined) {
      return {
        kind: "sgx",
        simulated: false,
        epc: [{ numaNode: undefined, mib: epcMib }],
        deviceNodes,
        source: "--epc-mib",
        cpuSgxFlag,
      };
    }
    const epc = readSysfsEpc(sysfsRoot);
    if (epc.length === 0) {
      throw new ConfigError(
        `SGX is present but ${join(sysfsRoot, "devices/system/node/node*/x86/sgx_total_bytes")} is missing (kernel < 6.0?): pass --epc-mib`,
      );
    }
    return { kind: "sgx", simulated: false, epc, deviceNodes, source: "sysfs sgx_total_bytes", cpuSgxFlag };
  }

  if (options.mode === "simulated" || simulatedEpcMib !== undefined) {
    if (simulatedEpcMib === undefined) throw new ConfigError("mode simulated needs --simulated-epc-mib");
    return {
      kind: "simulated",
      simulated: true,
      epc: [{ numaNode: undefined, mib: simulatedEpcMib }],
      deviceNodes: [],
      source: "--simulated-epc-mib (SIMULATED: no enclave hardware)",
      cpuSgxFlag,
    };
  }
  return {
    kind: "none",
    simulated: false,
    epc: [],
    deviceNodes: [],
    source: "no TEE device found",
    cpuSgxFlag,
  };
}
