import type { ServiceName } from "@cloister/config";
import type { AttestedServer } from "@cloister/rpc";
import type { KvStore } from "@cloister/storage";
import type { ProcessSpec } from "./services.js";

/**
 * What the services of one process share with each other: their internal endpoints (so a
 * co-hosted peer is called in process, through the same layers and policy, without TLS and
 * HTTP/2) and storage's sealed store (so management and the scheduler use it directly instead of
 * a storage RPC per operation). Caller and callee are one process and one measurement, so
 * nothing a network hop would prove is lost; what the endpoint's connection check decides
 * (which peer may call it) is checked when a link is made.
 */
export class ColocatedServices {
  readonly #servers = new Map<ServiceName, AttestedServer>();
  #store: KvStore | undefined;

  constructor(readonly spec: ProcessSpec) {}

  hosts(service: ServiceName): boolean {
    return this.spec.services.includes(service);
  }

  offerServer(service: ServiceName, server: AttestedServer): void {
    this.#servers.set(service, server);
  }

  /** The internal endpoint of a co-hosted service; it must have started (start order). */
  serverOf(service: ServiceName): AttestedServer {
    const server = this.#servers.get(service);
    if (!server) throw new Error(`the ${service} service has not started in this process yet`);
    return server;
  }

  offerStore(store: KvStore): void {
    this.#store = store;
  }

  /** Storage's store for a co-hosted user: everything but `close`, which stays storage's. */
  borrowStore(): KvStore {
    const store = this.#store;
    if (!store) throw new Error("the storage service has not started in this process yet");
    return borrowed(store);
  }
}

function borrowed(store: KvStore): KvStore {
  const bound = new Map<PropertyKey, unknown>();
  return new Proxy(store, {
    get(target, property) {
      if (property === "close") return async () => undefined;
      const value = Reflect.get(target, property, target) as unknown;
      if (typeof value !== "function") return value;
      let fn = bound.get(property);
      if (!fn) {
        fn = (value as (...a: unknown[]) => unknown).bind(target);
        bound.set(property, fn);
      }
      return fn;
    },
  });
}
