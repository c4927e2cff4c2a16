// The device-plugin side of the kubelet protocol: serve DevicePlugin on our own unix socket in the
// kubelet's device-plugin directory, announce it through the kubelet's Registration socket, and
// start over whenever the kubelet restarts (it wipes the directory, our socket included, and
// creates a fresh kubelet.sock; a plugin that does not notice silently drops to zero capacity).
import { EventEmitter } from "node:events";
import { type FSWatcher, statSync, unlinkSync, watch } from "node:fs";
import { join } from "node:path";
import { cloisterError, isCloisterError, type Logger, silentLogger } from "@cloister/core";
import * as grpc from "@grpc/grpc-js";
import type { PluginResource } from "./epc.js";
import {
  type AllocateRequest,
  type AllocateResponse,
  type DevicePluginOptions,
  type DevicePluginServer,
  DevicePluginService,
  type Empty,
  type ListAndWatchResponse,
  type PreferredAllocationRequest,
  type PreferredAllocationResponse,
  type PreStartContainerResponse,
  RegistrationClient,
} from "./gen/kubelet_deviceplugin_v1beta1.js";

/** The API version this plugin speaks (RegisterRequest.version). */
export const API_VERSION = "v1beta1";
export const DEFAULT_DEVICE_PLUGIN_DIR = "/var/lib/kubelet/device-plugins";
export const KUBELET_SOCKET = "kubelet.sock";
/** Resource names of the two models this plugin speaks (pods ask for them in their limits). */
export const RESOURCE_NAMES = {
  /** Aliyun's model: one device per MiB of EPC. */
  aliyunEpc: "alibabacloud.com/sgx_epc_MiB",
  /** Intel's model: EPC in bytes as a node extended resource, devices counted separately. */
  intelEpc: "sgx.intel.com/epc",
  intelEnclave: "sgx.intel.com/enclave",
  intelProvision: "sgx.intel.com/provision",
} as const;
export type ResourceModel = "aliyun" | "intel";
/** The EPC resource advertised by default (the aliyun model). */
export const DEFAULT_RESOURCE_NAME = RESOURCE_NAMES.aliyunEpc;

/** An extended resource name: `<dns-domain>/<name>`, never in the kubernetes.io domain. */
const RESOURCE_NAME = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?\/[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;

export interface DevicePluginOptionsInput {
  resourceName: string;
  resource: PluginResource;
  /** The kubelet's device-plugin directory. */
  pluginDir?: string;
  /** Our socket's file name inside pluginDir. */
  socketName?: string;
  /** How often device health is re-checked, ms. */
  healthIntervalMs?: number;
  /** How often the sockets are checked besides filesystem events (and registration retried), ms. */
  watchIntervalMs?: number;
  log?: Logger;
}

const inodeOf = (path: string): number | undefined => {
  try {
    return statSync(path).ino;
  } catch {
    return undefined;
  }
};

const grpcError = (e: unknown): Partial<grpc.StatusObject> =>
  isCloisterError(e)
    ? { code: e.code as grpc.status, details: e.message }
    : { code: grpc.status.INTERNAL, details: "internal error in the device plugin" };

/**
 * One extended resource served to the kubelet. Events: `registered` (after every successful
 * Register), `served` (our socket is (re)bound), `error`-free by design: failures are logged and
 * retried on the next watch tick.
 */
export class CloisterDevicePlugin extends EventEmitter {
  readonly resourceName: string;
  readonly pluginDir: string;
  readonly socketName: string;
  readonly socketPath: string;
  readonly kubeletSocketPath: string;
  private readonly resource: PluginResource;
  private readonly log: Logger;
  private readonly healthIntervalMs: number;
  private readonly watchIntervalMs: number;
  private server: grpc.Server | undefined;
  private servedInode: number | undefined;
  private registeredKubeletInode: number | undefined;
  private readonly streams = new Set<grpc.ServerWritableStream<Empty, ListAndWatchResponse>>();
  private watcher: FSWatcher | undefined;
  private timers: NodeJS.Timeout[] = [];
  private chain: Promise<void> = Promise.resolve();
  private stopped = false;
  private waitingLogged = false;

  constructor(o: DevicePluginOptionsInput) {
    super();
    if (!RESOURCE_NAME.test(o.resourceName) || o.resourceName.length > 253) {
      throw cloisterError("INVALID_RESOURCE_NAME", { name: JSON.stringify(o.resourceName) });
    }
    this.resourceName = o.resourceName;
    this.resource = o.resource;
    this.pluginDir = o.pluginDir ?? DEFAULT_DEVICE_PLUGIN_DIR;
    this.socketName = o.socketName ?? `cloister-${o.resourceName.split("/")[1]}.sock`;
    this.socketPath = join(this.pluginDir, this.socketName);
    this.kubeletSocketPath = join(this.pluginDir, KUBELET_SOCKET);
    this.healthIntervalMs = o.healthIntervalMs ?? 10_000;
    this.watchIntervalMs = o.watchIntervalMs ?? 5_000;
    this.log = o.log ?? silentLogger;
  }

  get options(): DevicePluginOptions {
    return { preStartRequired: false, getPreferredAllocationAvailable: true };
  }

  /** Serve, register (retrying until a kubelet answers) and keep watching for kubelet restarts. */
  async start(): Promise<void> {
    this.stopped = false;
    await this.reconcile();
    this.watcher = watch(this.pluginDir, () => void this.reconcile());
    this.watcher.on("error", (e) =>
      this.log.warn({ err: e.message }, "cannot watch the device-plugin directory; polling only"),
    );
    this.timers.push(setInterval(() => void this.reconcile(), this.watchIntervalMs));
    this.timers.push(setInterval(() => this.checkHealth(), this.healthIntervalMs));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    this.watcher?.close();
    this.watcher = undefined;
    await this.chain;
    await this.closeServer();
  }

  /** Re-check device health now and tell every connected kubelet if it changed. */
  checkHealth(): boolean {
    const changed = this.resource.refresh();
    if (changed) {
      const list = this.resource.devices();
      this.log.warn({ resource: this.resourceName, health: list[0]?.health }, "device health changed");
      this.broadcast();
    }
    return changed;
  }

  /** Bring our state in line with the directory: one pass at a time. */
  reconcile(): Promise<void> {
    this.chain = this.chain
      .then(() => this.reconcileOnce())
      .catch((e: unknown) => {
        this.log.warn({ err: (e as Error).message }, "device plugin reconcile failed; retrying");
      });
    return this.chain;
  }

  private async reconcileOnce(): Promise<void> {
    if (this.stopped) return;
    const ours = inodeOf(this.socketPath);
    if (this.server === undefined || ours === undefined || ours !== this.servedInode) {
      if (this.server)
        this.log.info({ socket: this.socketPath }, "our socket is gone (kubelet restart?): serving again");
      await this.closeServer();
      await this.serve();
      this.registeredKubeletInode = undefined;
    }
    const kubelet = inodeOf(this.kubeletSocketPath);
    if (kubelet === undefined) {
      if (!this.waitingLogged) this.log.info({ socket: this.kubeletSocketPath }, "waiting for the kubelet");
      this.waitingLogged = true;
      return;
    }
    this.waitingLogged = false;
    if (kubelet === this.registeredKubeletInode) return;
    await this.register();
    this.registeredKubeletInode = kubelet;
    this.log.info(
      { resource: this.resourceName, endpoint: this.socketName, devices: this.resource.devices().length },
      "registered with the kubelet",
    );
    this.emit("registered");
  }

  private async serve(): Promise<void> {
    try {
      unlinkSync(this.socketPath);
    } catch {
      // Nothing stale to remove.
    }
    const server = new grpc.Server();
    server.addService(DevicePluginService, this.handlers());
    await new Promise<void>((resolve, reject) =>
      server.bindAsync(`unix:${this.socketPath}`, grpc.ServerCredentials.createInsecure(), (err) =>
        err ? reject(err) : resolve(),
      ),
    );
    this.server = server;
    this.servedInode = inodeOf(this.socketPath);
    this.emit("served");
  }

  private async closeServer(): Promise<void> {
    for (const s of this.streams) s.end();
    this.streams.clear();
    const server = this.server;
    this.server = undefined;
    this.servedInode = undefined;
    if (server) {
      server.forceShutdown();
      // grpc-js leaves the socket file behind; a successor must not find a dead one.
      try {
        if (inodeOf(this.socketPath) !== undefined) unlinkSync(this.socketPath);
      } catch {
        // Already removed by the kubelet.
      }
    }
  }

  private register(): Promise<void> {
    const client = new RegistrationClient(
      `unix:${this.kubeletSocketPath}`,
      grpc.credentials.createInsecure(),
    );
    return new Promise<void>((resolve, reject) => {
      client.register(
        {
          version: API_VERSION,
          endpoint: this.socketName,
          resourceName: this.resourceName,
          options: this.options,
        },
        new grpc.Metadata(),
        { deadline: Date.now() + 10_000 },
        (err) => {
          client.close();
          if (err)
            reject(
              new Error(
                `kubelet refused registration of ${this.resourceName}: ${err.details || err.message}`,
              ),
            );
          else resolve();
        },
      );
    });
  }

  private broadcast(): void {
    const msg: ListAndWatchResponse = { devices: this.resource.devices() };
    for (const s of this.streams) s.write(msg);
  }

  private handlers(): DevicePluginServer {
    return {
      getDevicePluginOptions: (_call, cb) => cb(null, this.options),
      listAndWatch: (call) => {
        this.streams.add(call);
        const drop = () => this.streams.delete(call);
        call.on("cancelled", drop);
        call.on("close", drop);
        call.on("error", drop);
        call.write({ devices: this.resource.devices() });
      },
      getPreferredAllocation: (
        call: grpc.ServerUnaryCall<PreferredAllocationRequest, PreferredAllocationResponse>,
        cb,
      ) => {
        try {
          cb(null, {
            containerResponses: call.request.containerRequests.map((r) => ({
              deviceIDs: this.resource.preferred(r),
            })),
          });
        } catch (e) {
          cb(grpcError(e));
        }
      },
      allocate: (call: grpc.ServerUnaryCall<AllocateRequest, AllocateResponse>, cb) => {
        try {
          const containerResponses = call.request.containerRequests.map((r) =>
            this.resource.allocate(r.devicesIds),
          );
          this.log.info(
            { containers: call.request.containerRequests.map((r) => r.devicesIds.length) },
            "allocated",
          );
          cb(null, { containerResponses });
        } catch (e) {
          this.log.warn({ err: (e as Error).message }, "allocation refused");
          cb(grpcError(e));
        }
      },
      preStartContainer: (_call, cb) => cb(null, {} satisfies PreStartContainerResponse),
    };
  }
}
