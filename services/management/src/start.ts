import type { Logger } from "@cloister/core";
import { boundAddress, type RunningService, type ServiceContext } from "@cloister/host";
import { extensions, management } from "@cloister/proto";
import { logging, type RpcContext, serve, uniformPolicy } from "@cloister/rpc";
import { RecordStore } from "@cloister/storage";
import { OpsReads } from "./ops.js";
import { type Caller, ManagementService, validationAsInvalidArgument } from "./service.js";
import { watchTask } from "./watch.js";

/**
 * Management (17777, for the frontend only): functions, data and tasks on top of the storage
 * service. It trusts the `id` and `role` metadata because only the attested frontend, which set
 * them from a validated token, can reach it.
 */
export async function start(ctx: ServiceContext): Promise<RunningService> {
  // Storage's own store when it runs in this process, else its RPC client.
  const store = ctx.peerStore();
  const service = new ManagementService({
    store,
    logger: ctx.log,
    fileExchangeDir: ctx.config.execution.file_exchange_dir,
  });
  const records = new RecordStore(store);
  const ops = new OpsReads(records);
  const callerOf = (rc: RpcContext): Caller => ({ id: rc.identity.id ?? "", role: rc.identity.role ?? "" });
  /** A handler of the service with the caller from the metadata and validation failures as 3. */
  const by =
    <Q, R>(method: (caller: Caller, request: Q) => Promise<R>) =>
    (request: Q, rc: RpcContext): Promise<R> =>
      method.call(service, callerOf(rc), request).catch((e: unknown) => {
        throw validationAsInvalidArgument(e);
      });
  const server = ctx.internalServer();
  // Every method has one caller: the attested frontend, which the endpoint's connection check admits.
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
    { layers, policy: uniformPolicy(management.TeaclaveManagementService, "peer"), log: ctx.log },
  );
  serve<extensions.CloisterManagementServer>(
    server,
    extensions.CloisterManagementService,
    {
      getTaskEvidence: (request, rc) => service.getTaskEvidence(callerOf(rc), request),
      readTaskLog: (request, rc) => ops.readTaskLog(callerOf(rc), request),
      getPlatformStatus: (_request, rc) => ops.platformStatus(callerOf(rc)),
      watchTask: (request, rc) => watchViews(records, callerOf(rc), request, rc, ctx.log),
    },
    { layers, policy: uniformPolicy(extensions.CloisterManagementService, "peer"), log: ctx.log },
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

/** WatchTask's messages: the task's views until it ends or the client goes away. */
async function* watchViews(
  store: RecordStore,
  caller: Caller,
  request: extensions.WatchTaskRequest,
  rc: RpcContext,
  log: Logger,
): AsyncGenerator<extensions.WatchTaskResponse> {
  const signal = rc.signal ?? new AbortController().signal;
  for await (const task of watchTask(store, caller, request.taskId, signal, log, request.endedOnly))
    yield { task };
}
