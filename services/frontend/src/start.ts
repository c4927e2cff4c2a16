import { boundAddress, type RunningService, type ServiceContext } from "@cloister/host";
import { accessControl, authentication, extensions, frontend, management } from "@cloister/proto";
import {
  callUnary,
  createClient,
  deadline,
  logging,
  type Policy,
  type RequestOf,
  type ResponseOf,
  type RpcContext,
  serve,
  type UnaryMethodName,
} from "@cloister/rpc";
import * as grpc from "@grpc/grpc-js";
import { AuditBuffer } from "./audit.js";
import { FrontendGate } from "./gate.js";

/** Client metadata worth forwarding: application keys only, never transport headers. */
function forwardedMetadata(incoming: grpc.Metadata, role: string): grpc.Metadata {
  const out = new grpc.Metadata();
  for (const [key, values] of Object.entries(incoming.getMap())) {
    if (
      key.startsWith(":") ||
      key.startsWith("grpc-") ||
      ["user-agent", "content-type", "te", "role"].includes(key)
    )
      continue;
    out.set(key, values as string);
  }
  out.set("role", role);
  return out;
}

/**
 * The frontend (7777): every call is authenticated with authentication-internal, authorised by
 * access control, forwarded to management with the token's role, and audited.
 */
export async function start(ctx: ServiceContext): Promise<RunningService> {
  const auth = createClient(
    authentication.TeaclaveAuthenticationInternalClient,
    ctx.peerAddress("authentication"),
    ctx.peerCredentials("authentication"),
  );
  const acs = createClient(
    accessControl.TeaclaveAccessControlClient,
    ctx.peerAddress("access_control"),
    ctx.peerCredentials("access_control"),
  );
  const mgmt = createClient(
    management.TeaclaveManagementClient,
    ctx.peerAddress("management"),
    ctx.peerCredentials("management"),
  );
  const deadlineMs = 60_000;

  const audit = new AuditBuffer(async (entries) => {
    await callUnary(mgmt, "saveLogs", { logs: entries }, { deadlineMs, waitForReady: true });
  }, ctx.log);
  audit.start();
  const gate = new FrontendGate({
    audit,
    log: ctx.log,
    authenticate: async (id, token) => {
      const r = await callUnary(
        auth,
        "userAuthenticate",
        { credential: { id, token } },
        { deadlineMs, waitForReady: true },
      );
      return r.claims ? { sub: r.claims.sub, role: r.claims.role } : undefined;
    },
    authorize: async (role, api) =>
      (await callUnary(acs, "authorizeApi", { userRole: role, api }, { deadlineMs, waitForReady: true }))
        .accept,
  });

  const mgmtExt = createClient(
    extensions.CloisterManagementClient,
    ctx.peerAddress("management"),
    ctx.peerCredentials("management"),
  );
  type Mgmt = management.TeaclaveManagementClient;
  /** Management's method of the same name, with the caller's role from its token and the call's deadline. */
  const forward =
    <M extends keyof frontend.TeaclaveFrontendServer & UnaryMethodName<Mgmt>>(method: M) =>
    (request: RequestOf<Mgmt, M>, rc: RpcContext): Promise<ResponseOf<Mgmt, M>> =>
      callUnary(mgmt, method, request, {
        metadata: forwardedMetadata(rc.metadata, rc.principal?.role ?? ""),
        deadlineMs: rc.deadlineMs ?? deadlineMs,
        waitForReady: true,
      });
  const server = ctx.apiServer();
  // Credentials are checked when the metadata arrives, before the message is read (an
  // unauthenticated peer cannot make the frontend buffer a request body); access control
  // authorises every method; every authenticated call is audited.
  const layers = [logging(ctx.log), deadline(deadlineMs), ...gate.layers()];
  const everyMethod = <S>(service: Record<keyof S & string, unknown>): Policy<S> =>
    Object.fromEntries(Object.keys(service).map((m) => [m, gate.rule])) as Policy<S>;
  serve<frontend.TeaclaveFrontendServer>(
    server,
    frontend.TeaclaveFrontendService,
    {
      registerInputFile: forward("registerInputFile"),
      registerOutputFile: forward("registerOutputFile"),
      updateInputFile: forward("updateInputFile"),
      updateOutputFile: forward("updateOutputFile"),
      registerFusionOutput: forward("registerFusionOutput"),
      registerInputFromOutput: forward("registerInputFromOutput"),
      getOutputFile: forward("getOutputFile"),
      getInputFile: forward("getInputFile"),
      registerFunction: forward("registerFunction"),
      getFunction: forward("getFunction"),
      getFunctionUsageStats: forward("getFunctionUsageStats"),
      updateFunction: forward("updateFunction"),
      listFunctions: forward("listFunctions"),
      deleteFunction: forward("deleteFunction"),
      disableFunction: forward("disableFunction"),
      createTask: forward("createTask"),
      getTask: forward("getTask"),
      assignData: forward("assignData"),
      approveTask: forward("approveTask"),
      invokeTask: forward("invokeTask"),
      cancelTask: forward("cancelTask"),
      queryAuditLogs: forward("queryAuditLogs"),
    },
    { layers, policy: everyMethod(frontend.TeaclaveFrontendService), log: ctx.log },
  );
  // Cloister extension beside the Teaclave API: the same layers and policy.
  serve<extensions.CloisterFrontendServer>(
    server,
    extensions.CloisterFrontendService,
    {
      getTaskEvidence: (request, rc) =>
        callUnary(mgmtExt, "getTaskEvidence", request, {
          metadata: forwardedMetadata(rc.metadata, rc.principal?.role ?? ""),
          deadlineMs: rc.deadlineMs ?? deadlineMs,
          waitForReady: true,
        }),
    },
    { layers, policy: everyMethod(extensions.CloisterFrontendService), log: ctx.log },
  );
  const port = await server.listen(ctx.config.listen.frontend);
  return {
    endpoints: [{ name: "frontend API", address: boundAddress(ctx.config.listen.frontend, port) }],
    async close() {
      await server.close();
      await audit.close();
      for (const c of [auth, acs, mgmt, mgmtExt]) c.close();
    },
  };
}
