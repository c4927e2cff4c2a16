import { boundAddress, openSealedStore, type RunningService, type ServiceContext } from "@cloister/host";
import { timedStore } from "@cloister/observability";
import { extensions, storage } from "@cloister/proto";
import { logging, serve, uniformPolicy } from "@cloister/rpc";
import { cloisterStorageHandlers, teaclaveStorageHandlers } from "./handlers.js";

/** The storage service: the platform's sealed store, reachable by management and the scheduler only. */
export async function start(ctx: ServiceContext): Promise<RunningService> {
  // Timed at the service: the latency of the sealed store itself (sealing included), by operation.
  const store = timedStore(await openSealedStore(ctx.config, "storage"), ctx.metrics);
  // Management and the scheduler use it directly when they run in this process.
  ctx.shareStore(store);
  const server = ctx.internalServer();
  // Every method has the same callers: the attested peers the endpoint's connection check admits.
  const layers = [logging(ctx.log)];
  serve<storage.TeaclaveStorageServer>(
    server,
    storage.TeaclaveStorageService,
    teaclaveStorageHandlers(store, ctx.log),
    {
      layers,
      policy: uniformPolicy(storage.TeaclaveStorageService, "peer"),
      log: ctx.log,
    },
  );
  serve<extensions.CloisterStorageServer>(
    server,
    extensions.CloisterStorageService,
    cloisterStorageHandlers(store, ctx.log),
    { layers, policy: uniformPolicy(extensions.CloisterStorageService, "peer"), log: ctx.log },
  );
  const port = await server.listen(ctx.config.listen.storage);
  return {
    endpoints: [{ name: "storage (internal)", address: boundAddress(ctx.config.listen.storage, port) }],
    async close() {
      await server.close();
      await store.close();
    },
  };
}
