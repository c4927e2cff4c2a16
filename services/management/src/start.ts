import { boundAddress, type RunningService, type ServiceContext } from "@cloister/host";
import { extensions, management } from "@cloister/proto";
import { readIdentityMetadata, unary } from "@cloister/rpc";
import { RemoteKvStore } from "@cloister/storage";
import type * as grpc from "@grpc/grpc-js";
import {
  type Caller,
  type ManagementApi,
  type ManagementMethod,
  ManagementService,
  type RequestOf,
  validationAsInvalidArgument,
} from "./service.js";

type Call = grpc.ServerUnaryCall<unknown, unknown>;

const callerOf = (call: Call): Caller => {
  const md = readIdentityMetadata(call.metadata);
  return { id: md.id ?? "", role: md.role ?? "" };
};

/** One method of the API as a gRPC handler: caller from the metadata, validation failures as 3. */
function handler<M extends ManagementMethod>(api: ManagementApi, method: M, log: ServiceContext["log"]) {
  const run: ManagementApi[M] = api[method];
  return unary(
    (request: RequestOf<M>, call: Call) =>
      run(callerOf(call), request).catch((e: unknown) => {
        throw validationAsInvalidArgument(e);
      }),
    log,
  );
}

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
  const h = <M extends ManagementMethod>(m: M) => handler(service, m, ctx.log);
  const server = ctx.internalServer();
  server.addService(management.TeaclaveManagementService, {
    registerInputFile: h("registerInputFile"),
    registerOutputFile: h("registerOutputFile"),
    updateInputFile: h("updateInputFile"),
    updateOutputFile: h("updateOutputFile"),
    registerFusionOutput: h("registerFusionOutput"),
    registerInputFromOutput: h("registerInputFromOutput"),
    getOutputFile: h("getOutputFile"),
    getInputFile: h("getInputFile"),
    registerFunction: h("registerFunction"),
    updateFunction: h("updateFunction"),
    getFunction: h("getFunction"),
    getFunctionUsageStats: h("getFunctionUsageStats"),
    deleteFunction: h("deleteFunction"),
    disableFunction: h("disableFunction"),
    listFunctions: h("listFunctions"),
    createTask: h("createTask"),
    getTask: h("getTask"),
    assignData: h("assignData"),
    approveTask: h("approveTask"),
    invokeTask: h("invokeTask"),
    cancelTask: h("cancelTask"),
    saveLogs: h("saveLogs"),
    queryAuditLogs: h("queryAuditLogs"),
  } satisfies management.TeaclaveManagementServer);
  server.addService(extensions.CloisterManagementService, {
    getTaskEvidence: unary(
      (req: extensions.GetTaskEvidenceRequest, call: Call) => service.getTaskEvidence(callerOf(call), req),
      ctx.log,
    ),
  } satisfies extensions.CloisterManagementServer);
  const port = await server.listen(ctx.config.listen.management);
  return {
    endpoints: [{ name: "management (internal)", address: boundAddress(ctx.config.listen.management, port) }],
    async close() {
      await server.close();
      await store.close();
    },
  };
}
