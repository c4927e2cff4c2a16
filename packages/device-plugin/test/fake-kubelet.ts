// A stand-in for the kubelet's device manager, for tests only: it serves Registration on
// kubelet.sock and, like the real kubelet, dials back the endpoint a plugin registers.
import { rmSync } from "node:fs";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import {
  DevicePluginClient,
  type ListAndWatchResponse,
  type RegisterRequest,
  RegistrationService,
} from "../src/gen/kubelet_deviceplugin_v1beta1.js";

export class FakeKubelet {
  readonly registrations: RegisterRequest[] = [];
  private waiters: Array<(r: RegisterRequest) => void> = [];
  private server: grpc.Server | undefined;

  constructor(readonly dir: string) {}

  get socketPath(): string {
    return join(this.dir, "kubelet.sock");
  }

  async start(): Promise<void> {
    const server = new grpc.Server();
    server.addService(RegistrationService, {
      register: (call: grpc.ServerUnaryCall<RegisterRequest, unknown>, cb: grpc.sendUnaryData<object>) => {
        this.registrations.push(call.request);
        const waiters = this.waiters;
        this.waiters = [];
        for (const w of waiters) w(call.request);
        cb(null, {});
      },
    });
    await new Promise<void>((resolve, reject) =>
      server.bindAsync(`unix:${this.socketPath}`, grpc.ServerCredentials.createInsecure(), (e) =>
        e ? reject(e) : resolve(),
      ),
    );
    this.server = server;
  }

  /** The next Register call (or the first one, if it already happened and none is consumed yet). */
  nextRegistration(): Promise<RegisterRequest> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** What a kubelet restart looks like to a plugin: the server goes and the directory is wiped. */
  async crash(pluginSockets: string[]): Promise<void> {
    this.server?.forceShutdown();
    this.server = undefined;
    for (const f of [this.socketPath, ...pluginSockets.map((s) => join(this.dir, s))])
      rmSync(f, { force: true });
  }

  /** A client to a registered plugin's endpoint. */
  dial(endpoint: string): DevicePluginClient {
    return new DevicePluginClient(`unix:${join(this.dir, endpoint)}`, grpc.credentials.createInsecure());
  }

  stop(): void {
    this.server?.forceShutdown();
    this.server = undefined;
  }
}

/** Reads ListAndWatch updates one at a time. */
export class DeviceStream {
  private queue: ListAndWatchResponse[] = [];
  private waiters: Array<(r: ListAndWatchResponse) => void> = [];
  readonly call: grpc.ClientReadableStream<ListAndWatchResponse>;

  constructor(client: DevicePluginClient) {
    this.call = client.listAndWatch({});
    this.call.on("data", (r: ListAndWatchResponse) => {
      const w = this.waiters.shift();
      if (w) w(r);
      else this.queue.push(r);
    });
    this.call.on("error", () => undefined);
  }

  next(): Promise<ListAndWatchResponse> {
    const r = this.queue.shift();
    if (r) return Promise.resolve(r);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  close(): void {
    this.call.cancel();
  }
}

/** A unary call as a promise: `unary<R>((cb) => client.method(request, cb))`. */
export const unary = <Res>(
  invoke: (cb: (e: grpc.ServiceError | null, r: Res) => void) => unknown,
): Promise<Res> => new Promise((resolve, reject) => invoke((e, r) => (e ? reject(e) : resolve(r))));
