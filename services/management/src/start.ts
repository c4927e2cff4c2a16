import { boundAddress, type RunningService, type ServiceContext } from "@cloister/host";
import { extensions, management } from "@cloister/proto";
import { logging, type Policy, type RpcContext, serve } from "@cloister/rpc";
import { RemoteKvStore } from "@cloister/storage";
import { type Caller, ManagementService, validationAsInvalidArgument } from "./service.js";

/** Every method: only the attested frontend reaches this endpoint (its connection check). */
const fromPeers = <S>(service: Record<keyof S & string, unknown>): Policy<S> =>
  Object.fromEntries(Object.keys(service).map((m) => [m, "peer"])) as Policy<S>;

/**
 * Management (17777, for the frontend only): functions, data and tasks on top of the storage
 * service. It trusts the `id` and `role` metadata because only the attested frontend, which set
 * them from a validated token, can reach it.
 */
export async function start(ctx: ServiceContext): Promise<RunningService> {
  const store = new RemoteKvStore(ctx.peerAddress("storage"), ctx.peerCredentials("storage"));
  const service = new ManagementService({
    store,
    logger: ctx.log,
    fileExchangeDir: ctx.config.execution.file_exchange_dir,
  });
  const callerOf = (rc: RpcContext): Caller => ({ id: rc.identity.id ?? "", role: rc.identity.role ?? "" });
  /** A handler of the service with the caller from the metadata and validation failures as 3. */
  const by =
    <Q, R>(method: (caller: Caller, request: Q) => Promise<R>) =>
    (request: Q, rc: RpcContext): Promise<R> =>
      method.call(service, callerOf(rc), request).catch((e: unknown) => {
        throw validationAsInvalidArgument(e);
      });
  const server = ctx.internalServer();
  const layers = [logging(ctx.log)];
  serve<management.TeaclaveManagementServer>(
    server,
    management.TeaclaveManagementService,
    {
      registerInputFile: by(service.registerInputFile),
      registerOutputFile: by(service.registerOutputFile),
      updateInputFile: by(service.updateInputFile),
      updateOutputFile: by(service.updateOutputFile),
      registerFusionOutput: by(service.registerFusionOutput),
      registerInputFromOutput: by(service.registerInputFromOutput),
      getOutputFile: by(service.getOutputFile),
      getInputFile: by(service.getInputFile),
      registerFunction: by(service.registerFunction),
      getFunction: by(service.getFunction),
      getFunctionUsageStats: by(service.getFunctionUsageStats),
      updateFunction: by(service.updateFunction),
      listFunctions: by(service.listFunctions),
      deleteFunction: by(service.deleteFunction),
      disableFunction: by(service.disableFunction),
      createTask: by(service.createTask),
      getTask: by(service.getTask),
      assignData: by(service.assignData),
      approveTask: by(service.approveTask),
      invokeTask: by(service.invokeTask),
      cancelTask: by(service.cancelTask),
      saveLogs: by(service.saveLogs),
      queryAuditLogs: by(service.queryAuditLogs),
    },
    { layers, policy: fromPeers(management.TeaclaveManagementService), log: ctx.log },
  );
  serve<extensions.CloisterManagementServer>(
    server,
    extensions.CloisterManagementService,
    { getTaskEvidence: (request, rc) => service.getTaskEvidence(callerOf(rc), request) },
    { layers, policy: fromPeers(extensions.CloisterManagementService), log: ctx.log },
  );
  const port = await server.listen(ctx.config.listen.management);
  return {
    endpoints: [{ name: "management (internal)", address: boundAddress(ctx.config.listen.management, port) }],
    async close() {
      await server.close();
      await store.close();
    },
  };
}
