// Enclave memory as kubelet devices: each device is one chunk of EPC, so a pod asking for
// `cloister.io/epc-mib: 256` is only placed on a node with 256 MiB of EPC left, and the kubelet
// does the book-keeping. Allocating hands the container the SGX device nodes and its share.
import { ConfigError, cloisterError } from "@cloister/core";
import {
  hasEnclaveNode,
  presentDeviceNodes,
  SGX_ENCLAVE_NODES,
  SGX_PROVISION_NODES,
  type SgxDeviceNode,
  type TeeInventory,
} from "./discovery.js";
import type {
  ContainerAllocateResponse,
  ContainerPreferredAllocationRequest,
  Device,
} from "./gen/kubelet_deviceplugin_v1beta1.js";

export const HEALTHY = "Healthy";
export const UNHEALTHY = "Unhealthy";

/** The kubelet rejects more devices than this per resource in practice; ask for a bigger chunk. */
export const MAX_DEVICES = 65_536;

/** Environment variables every allocated container receives. */
export const ENV = {
  epcMib: "CLOISTER_TEE_EPC_MIB",
  provider: "CLOISTER_TEE_PROVIDER",
  simulated: "CLOISTER_TEE_SIMULATED",
} as const;

export interface EpcResourceOptions {
  inventory: TeeInventory;
  /** MiB of EPC per device. */
  chunkMib: number;
  /** Where the host's /dev is visible, for the health check. */
  devRoot?: string;
  /**
   * Also hand out the provisioning device nodes. Only containers that generate DCAP quotes need
   * them, and access to the provisioning key is a privilege: off unless asked for.
   */
  provision?: boolean;
}

/** What a plugin serves: its devices, their health, and what one allocation gets. */
export interface PluginResource {
  devices(): Device[];
  refresh(): boolean;
  allocate(ids: readonly string[]): ContainerAllocateResponse;
  preferred(req: ContainerPreferredAllocationRequest): string[];
}

const deviceSpecs = (nodes: readonly SgxDeviceNode[]) =>
  nodes.map((n) => ({ containerPath: `/dev/${n}`, hostPath: `/dev/${n}`, permissions: "rw" }));

function checkIds(ids: readonly string[], known: (id: string) => boolean): void {
  if (ids.length === 0) throw cloisterError("NO_DEVICES_REQUESTED");
  const unknown = ids.filter((id) => !known(id));
  if (unknown.length) {
    throw cloisterError("UNKNOWN_DEVICES", { ids: unknown.slice(0, 5).join(", ") });
  }
  if (new Set(ids).size !== ids.length) throw cloisterError("DUPLICATE_DEVICES");
}

interface Slot {
  id: string;
  numaNode: number | undefined;
}

export class EpcResource implements PluginResource {
  readonly chunkMib: number;
  readonly inventory: TeeInventory;
  private readonly slots: Slot[];
  private readonly byId: Map<string, Slot>;
  private readonly devRoot: string;
  private healthy: boolean;
  private readonly provision: boolean;

  constructor(options: EpcResourceOptions) {
    if (!Number.isInteger(options.chunkMib) || options.chunkMib <= 0) {
      throw new ConfigError("--chunk-mib must be a positive whole number");
    }
    this.chunkMib = options.chunkMib;
    this.inventory = options.inventory;
    this.devRoot = options.devRoot ?? "/dev";
    this.provision = options.provision ?? false;
    // IDs say which kind of device they are so `kubectl describe node` never passes a simulated
    // resource off as hardware.
    const prefix = options.inventory.simulated ? "sim-epc" : "epc";
    this.slots = [];
    for (const region of options.inventory.epc) {
      const count = Math.floor(region.mib / this.chunkMib);
      const node = region.numaNode === undefined ? "" : `n${region.numaNode}-`;
      for (let i = 0; i < count; i++)
        this.slots.push({ id: `${prefix}-${node}${i}`, numaNode: region.numaNode });
    }
    if (this.slots.length > MAX_DEVICES) {
      throw new ConfigError(
        `${this.slots.length} devices of ${this.chunkMib} MiB is too many to advertise; raise --chunk-mib (at most ${MAX_DEVICES} devices)`,
      );
    }
    this.byId = new Map(this.slots.map((s) => [s.id, s]));
    this.healthy = this.probe();
  }

  /** MiB of EPC advertised in total. */
  get totalMib(): number {
    return this.slots.length * this.chunkMib;
  }

  /** Hardware devices are healthy while an enclave device node exists; simulated ones always are. */
  private probe(): boolean {
    if (this.inventory.kind !== "sgx") return true;
    return hasEnclaveNode(presentDeviceNodes(this.devRoot));
  }

  /** Re-check health; true when it changed (the caller then pushes a new list to the kubelet). */
  refresh(): boolean {
    const now = this.probe();
    const changed = now !== this.healthy;
    this.healthy = now;
    return changed;
  }

  devices(): Device[] {
    const health = this.healthy ? HEALTHY : UNHEALTHY;
    return this.slots.map((s) => ({
      ID: s.id,
      health,
      topology: s.numaNode === undefined ? undefined : { nodes: [{ ID: s.numaNode }] },
    }));
  }

  /** What the kubelet must give one container holding `ids`. */
  allocate(ids: readonly string[]): ContainerAllocateResponse {
    checkIds(ids, (id) => this.byId.has(id));
    if (!this.healthy) throw cloisterError("SGX_DEVICE_UNAVAILABLE");
    const wanted: readonly SgxDeviceNode[] = this.provision
      ? [...SGX_ENCLAVE_NODES, ...SGX_PROVISION_NODES]
      : SGX_ENCLAVE_NODES;
    const nodes =
      this.inventory.kind === "sgx" ? presentDeviceNodes(this.devRoot).filter((n) => wanted.includes(n)) : [];
    return {
      envs: {
        [ENV.epcMib]: String(ids.length * this.chunkMib),
        [ENV.provider]: this.inventory.kind,
        [ENV.simulated]: String(this.inventory.simulated),
      },
      mounts: [],
      devices: deviceSpecs(nodes),
      annotations: {},
      cdiDevices: [],
    };
  }

  /**
   * Keep a container's EPC on one NUMA node when possible: required devices first, then the
   * node that already holds most of them (or has most free), then whatever is left.
   */
  preferred(req: ContainerPreferredAllocationRequest): string[] {
    const size = req.allocationSize;
    const chosen = [...new Set(req.mustIncludeDeviceIDs)];
    if (chosen.length >= size) return chosen.slice(0, Math.max(size, 0));
    const taken = new Set(chosen);
    const available = req.availableDeviceIDs.filter((id) => !taken.has(id) && this.byId.has(id));
    const nodeOf = (id: string) => this.byId.get(id)?.numaNode ?? -1;
    const free = new Map<number, number>();
    for (const id of available) free.set(nodeOf(id), (free.get(nodeOf(id)) ?? 0) + 1);
    const required = new Map<number, number>();
    for (const id of chosen) required.set(nodeOf(id), (required.get(nodeOf(id)) ?? 0) + 1);
    const rank = (n: number) => [required.get(n) ?? 0, free.get(n) ?? 0] as const;
    const order = [...free.keys()].sort((a, b) => {
      const [ra, fa] = rank(a);
      const [rb, fb] = rank(b);
      return rb - ra || fb - fa || a - b;
    });
    for (const node of order) {
      for (const id of available) {
        if (chosen.length >= size) return chosen;
        if (nodeOf(id) === node) chosen.push(id);
      }
    }
    return chosen;
  }
}

export interface SharedDeviceOptions {
  inventory: TeeInventory;
  /** Which device nodes one allocation maps. */
  nodes: "enclave" | "provision";
  /** How many containers on this node may hold the device at once. */
  limit: number;
  devRoot?: string;
}

/**
 * A device node shared by up to `limit` containers, counted by the kubelet (Intel's model:
 * `sgx.intel.com/enclave`, `sgx.intel.com/provision`). The node has none when it has no SGX.
 */
export class SharedDeviceResource implements PluginResource {
  private readonly ids: string[];
  private readonly devRoot: string;
  private readonly group: readonly SgxDeviceNode[];
  private healthy: boolean;

  constructor(private readonly options: SharedDeviceOptions) {
    if (!Number.isInteger(options.limit) || options.limit <= 0 || options.limit > MAX_DEVICES) {
      throw new ConfigError(`the shared device limit must be a whole number from 1 to ${MAX_DEVICES}`);
    }
    this.devRoot = options.devRoot ?? "/dev";
    this.group = options.nodes === "enclave" ? SGX_ENCLAVE_NODES : SGX_PROVISION_NODES;
    const hardware = options.inventory.kind === "sgx";
    const prefix = options.inventory.simulated ? `sim-${options.nodes}` : options.nodes;
    this.ids =
      hardware || options.inventory.simulated
        ? Array.from({ length: options.limit }, (_, i) => `${prefix}-${i}`)
        : [];
    this.healthy = this.probe();
  }

  private present(): SgxDeviceNode[] {
    return presentDeviceNodes(this.devRoot).filter((n) => this.group.includes(n));
  }

  private probe(): boolean {
    return this.options.inventory.kind !== "sgx" || this.present().length > 0;
  }

  refresh(): boolean {
    const now = this.probe();
    const changed = now !== this.healthy;
    this.healthy = now;
    return changed;
  }

  devices(): Device[] {
    const health = this.healthy ? HEALTHY : UNHEALTHY;
    return this.ids.map((ID) => ({ ID, health, topology: undefined }));
  }

  allocate(ids: readonly string[]): ContainerAllocateResponse {
    checkIds(ids, (id) => this.ids.includes(id));
    if (!this.healthy) throw cloisterError("SGX_NODES_UNAVAILABLE", { nodes: this.options.nodes });
    const nodes = this.options.inventory.kind === "sgx" ? this.present() : [];
    return {
      envs: {
        [ENV.provider]: this.options.inventory.kind,
        [ENV.simulated]: String(this.options.inventory.simulated),
      },
      mounts: [],
      devices: deviceSpecs(nodes),
      annotations: {},
      cdiDevices: [],
    };
  }

  preferred(req: ContainerPreferredAllocationRequest): string[] {
    const chosen = [...new Set(req.mustIncludeDeviceIDs)];
    for (const id of req.availableDeviceIDs) {
      if (chosen.length >= req.allocationSize) break;
      if (!chosen.includes(id) && this.ids.includes(id)) chosen.push(id);
    }
    return chosen.slice(0, Math.max(req.allocationSize, 0));
  }
}
