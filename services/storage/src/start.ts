import { boundAddress, openSealedStore, type RunningService, type ServiceContext } from "@cloister/host";
import { timedStore } from "@cloister/observability";
import { extensions, storage } from "@cloister/proto";
import { cloisterStorageHandlers, teaclaveStorageHandlers } from "./handlers.js";

/** The storage service: the platform's sealed store, reachable by management and the scheduler only. */
export async function start(ctx: ServiceContext): Promise<RunningService> {
  // Timed at the service: the latency of the sealed store itself (sealing included), by operation.
  const store = timedStore(await openSealedStore(ctx.config, "storage"), ctx.metrics);
  const server = ctx.internalServer();
  server.addService(storage.TeaclaveStorageService, teaclaveStorageHandlers(store, ctx.log));
  server.addService(extensions.CloisterStorageService, cloisterStorageHandlers(store, ctx.log));
  const port = await server.listen(ctx.config.listen.storage);
  return {
    endpoints: [{ name: "storage (internal)", address: boundAddress(ctx.config.listen.storage, port) }],
    async close() {
      await server.close();
      await store.close();
    },
  };
}
