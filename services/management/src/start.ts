import { boundAddress, type RunningService, type ServiceContext } from "@cloister/host";
import { extensions, management } from "@cloister/proto";
import { readIdentityMetadata, serverStream, unary } from "@cloister/rpc";
import { RemoteKvStore } from "@cloister/storage";
import type * as grpc from "@grpc/grpc-js";
import { type Caller, ManagementService, validationAsInvalidArgument } from "./service.js";
import { watchTask } from "./watch.js";

type Method = keyof typeof management.TeaclaveManagementService;
type Handler = (caller: Caller, request: unknown) => Promise<unknown>;

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
  const implementation: grpc.UntypedServiceImplementation = {};
  for (const method of Object.keys(management.TeaclaveManagementService) as Method[]) {
    const handler = (service as unknown as Record<Method, Handler>)[method].bind(service);
    implementation[method] = unary(async (request: unknown, call: grpc.ServerUnaryCall<unknown, unknown>) => {
      const md = readIdentityMetadata(call.metadata);
      return handler({ id: md.id ?? "", role: md.role ?? "" }, request).catch((e: unknown) => {
        throw validationAsInvalidArgument(e);
      });
    }, ctx.log);
  }
  const server = ctx.internalServer();
  server.addService(management.TeaclaveManagementService, implementation);
  server.addService(extensions.CloisterManagementService, {
    getTaskEvidence: unary(
      async (req: extensions.GetTaskEvidenceRequest, call: grpc.ServerUnaryCall<unknown, unknown>) => {
        const md = readIdentityMetadata(call.metadata);
        return service.getTaskEvidence({ id: md.id ?? "", role: md.role ?? "" }, req);
      },
      ctx.log,
    ),
    watchTask: serverStream(async function* (req: extensions.WatchTaskRequest, call, signal) {
      const md = readIdentityMetadata(call.metadata);
      for await (const task of watchTask(
        store,
        { id: md.id ?? "", role: md.role ?? "" },
        req.taskId,
        signal,
        ctx.log,
      ))
        yield { task };
    }, ctx.log),
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
