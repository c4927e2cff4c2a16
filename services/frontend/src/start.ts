import { boundAddress, type RunningService, type ServiceContext } from "@cloister/host";
import { accessControl, authentication, extensions, frontend, management } from "@cloister/proto";
import {
  callUnary,
  deadline,
  logging,
  type RequestOf,
  type ResponseOf,
  type RpcContext,
  type Rule,
  serve,
  type UnaryMethodName,
  uniformPolicy,
} from "@cloister/rpc";
import * as grpc from "@grpc/grpc-js";
import { AuditBuffer } from "./audit.js";
import { CredentialCache } from "./credentials.js";
import { FrontendGate } from "./gate.js";
import { StreamSlots, taskLogChunks } from "./task-log-stream.js";
import { heldView, WaitSlots, waitBudgetMs } from "./task-wait.js";
import { followUserChanges } from "./user-changes.js";
import { relayWatch } from "./watch.js";

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
  const auth = ctx.peerClient(authentication.TeaclaveAuthenticationInternalClient, "authentication");
  const acs = ctx.peerClient(accessControl.TeaclaveAccessControlClient, "access_control");
  const mgmt = ctx.peerClient(management.TeaclaveManagementClient, "management");
  const deadlineMs = 60_000;

  const audit = new AuditBuffer(async (entries) => {
    await callUnary(mgmt, "saveLogs", { logs: entries }, { deadlineMs, waitForReady: true });
  }, ctx.log);
  audit.start();
  // Checked credentials are kept briefly, only while authentication streams its user changes.
  const credentials = new CredentialCache();
  const authExt = ctx.peerClient(extensions.CloisterAuthenticationInternalClient, "authentication");
  const stopFollowing = followUserChanges(authExt, credentials, ctx.log);
  const gate = new FrontendGate({
    audit,
    log: ctx.log,
    userRate: {
      perSecond: ctx.config.frontend.user_calls_per_second,
      burst: ctx.config.frontend.user_call_burst,
    },
    authenticate: async (id, token) => {
      const known = credentials.get(id, token);
      if (known) return known;
      const epoch = credentials.begin();
      const r = await callUnary(
        auth,
        "userAuthenticate",
        { credential: { id, token } },
        { deadlineMs, waitForReady: true },
      );
      if (!r.claims) return undefined;
      const claims = { sub: r.claims.sub, role: r.claims.role };
      credentials.put(id, token, { ...claims, exp: Number(r.claims.exp) }, epoch);
      return claims;
    },
    authorize: async (role, api) =>
      (await callUnary(acs, "authorizeApi", { userRole: role, api }, { deadlineMs, waitForReady: true }))
        .accept,
  });

  const mgmtExt = ctx.peerClient(extensions.CloisterManagementClient, "management");
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
  const getTask = forward("getTask");
  const waitSlots = new WaitSlots();
  /** GetTask, held while the task is in flight (task-wait.ts; `[frontend] get_task_wait_ms`). */
  const heldGetTask = async (request: frontend.GetTaskRequest, rc: RpcContext) => {
    const first = await getTask(request, rc);
    const waitMs = waitBudgetMs(rc.metadata, ctx.config.frontend.get_task_wait_ms, rc.deadlineMs);
    const release = waitMs > 0 ? waitSlots.tryTake(rc.principal?.id ?? "") : undefined;
    if (!release) return first;
    try {
      const metadata = forwardedMetadata(rc.metadata, rc.principal?.role ?? "");
      return await heldView({
        first,
        waitMs,
        watch: (signal) => relayWatch(mgmtExt, { taskId: request.taskId }, metadata, signal),
        ...(rc.signal ? { signal: rc.signal } : {}),
      });
    } finally {
      release();
    }
  };
  const server = ctx.apiServer();
  // Credentials are checked when the metadata arrives, before the message is read (an
  // unauthenticated peer cannot make the frontend buffer a request body); access control
  // authorises every method; every authenticated call is audited.
  const layers = [logging(ctx.log), deadline(deadlineMs), ...gate.layers()];
  /** WatchTask is GetTask as a stream: access control decides as for get_task (audited as watch_task). */
  const likeGetTask: Rule = (rc) =>
    rc.principal ? gate.allows(rc.principal.role, "get_task", rc.principal.id) : false;
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
      getTask: heldGetTask,
      assignData: forward("assignData"),
      approveTask: forward("approveTask"),
      invokeTask: forward("invokeTask"),
      cancelTask: forward("cancelTask"),
      queryAuditLogs: forward("queryAuditLogs"),
    },
    { layers, policy: uniformPolicy(frontend.TeaclaveFrontendService, gate.rule), log: ctx.log },
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
      getPlatformStatus: (request, rc) =>
        callUnary(mgmtExt, "getPlatformStatus", request, {
          metadata: forwardedMetadata(rc.metadata, rc.principal?.role ?? ""),
          deadlineMs: rc.deadlineMs ?? deadlineMs,
          waitForReady: true,
        }),
      watchTask: (request, rc) =>
        relayWatch(mgmtExt, request, forwardedMetadata(rc.metadata, rc.principal?.role ?? ""), rc.signal),
    },
    {
      layers,
      policy: { ...uniformPolicy(extensions.CloisterFrontendService, gate.rule), watchTask: likeGetTask },
      log: ctx.log,
    },
  );
  // The task log (its own service, server streaming): the same layers and access control
  // (`stream_task_log`); each read is authorised again by management.
  const followSlots = new StreamSlots();
  serve<extensions.CloisterTaskLogsServer>(
    server,
    extensions.CloisterTaskLogsService,
    {
      streamTaskLog: (request, rc) =>
        (async function* () {
          const caller = rc.principal ?? { id: "", role: "" };
          const release = request.follow ? followSlots.take(caller.id) : () => undefined;
          try {
            yield* taskLogChunks(
              (offset) =>
                callUnary(
                  mgmtExt,
                  "readTaskLog",
                  { taskId: request.taskId, offset },
                  { metadata: forwardedMetadata(rc.metadata, caller.role), deadlineMs, waitForReady: true },
                ),
              { follow: request.follow },
              rc.signal,
            );
          } finally {
            release();
          }
        })(),
    },
    { layers, policy: uniformPolicy(extensions.CloisterTaskLogsService, gate.rule), log: ctx.log },
  );
  const port = await server.listen(ctx.config.listen.frontend);
  return {
    endpoints: [{ name: "frontend API", address: boundAddress(ctx.config.listen.frontend, port) }],
    async close() {
      stopFollowing();
      await server.close();
      await audit.close();
      for (const c of [auth, authExt, acs, mgmt, mgmtExt]) c.close();
    },
  };
}
