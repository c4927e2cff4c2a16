import { boundAddress, type RunningService, type ServiceContext } from "@cloister/host";
import { accessControl, authentication, extensions, frontend, management } from "@cloister/proto";
import { callUnary, createClient, readIdentityMetadata, unary } from "@cloister/rpc";
import * as grpc from "@grpc/grpc-js";
import { AuditBuffer, ipBytes } from "./audit.js";
import { CredentialCache } from "./credentials.js";
import { type Claims, FrontendGate } from "./gate.js";
import { followUserChanges } from "./user-changes.js";
import { watchTaskHandler } from "./watch.js";

type Method = keyof typeof frontend.TeaclaveFrontendService;
type Call = grpc.ServerUnaryCall<unknown, unknown>;

const snakeCase = (s: string) => s.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

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

/** `ipv4:1.2.3.4:5`, `1.2.3.4:5` or `[::1]:5` → the address part. */
function peerAddress(peer: string): string {
  const p = peer.replace(/^ipv[46]:/, "");
  if (p.startsWith("[")) return p.slice(1, p.indexOf("]"));
  const i = p.lastIndexOf(":");
  return i > 0 && p.indexOf(":") === i ? p.slice(0, i) : p;
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
  // Checked credentials are kept briefly, only while authentication streams its user changes.
  const credentials = new CredentialCache();
  const authExt = createClient(
    extensions.CloisterAuthenticationInternalClient,
    ctx.peerAddress("authentication"),
    ctx.peerCredentials("authentication"),
  );
  const stopFollowing = followUserChanges(authExt, credentials, ctx.log);
  const gate = new FrontendGate({
    audit,
    log: ctx.log,
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

  // Claims of calls authenticated at admission, by the call's metadata object (which grpc-js
  // hands to the handler as call.metadata).
  const admitted = new WeakMap<grpc.Metadata, Claims>();
  const apiOfPath = new Map<string, string>();
  const implementation: grpc.UntypedServiceImplementation = {};
  for (const method of Object.keys(frontend.TeaclaveFrontendService) as Method[]) {
    const api = snakeCase(method);
    apiOfPath.set(frontend.TeaclaveFrontendService[method].path, api);
    implementation[method] = unary(async (request: unknown, call: Call) => {
      const md = readIdentityMetadata(call.metadata);
      return gate.call(
        api,
        { id: md.id, token: md.token, ip: ipBytes(peerAddress(call.getPeer())) },
        (caller) =>
          callUnary(mgmt, method as never, request as never, {
            metadata: forwardedMetadata(call.metadata, caller.role),
            deadlineMs,
            waitForReady: true,
          }),
        admitted.get(call.metadata),
      );
    }, ctx.log);
  }
  const mgmtExt = createClient(
    extensions.CloisterManagementClient,
    ctx.peerAddress("management"),
    ctx.peerCredentials("management"),
  );
  const server = ctx.apiServer();
  // Credentials are checked when the metadata arrives, before the message is read: an
  // unauthenticated peer cannot make the frontend buffer a request body.
  server.addService(frontend.TeaclaveFrontendService, implementation, {
    admit: async ({ path, metadata, peer }) => {
      const md = readIdentityMetadata(metadata);
      const claims = await gate.authenticate(apiOfPath.get(path) ?? path, {
        id: md.id,
        token: md.token,
        ip: ipBytes(peer),
      });
      admitted.set(metadata, claims);
    },
  });
  // Cloister extension beside the Teaclave API: the same admission, authentication,
  // authorisation and audit.
  const evidencePath = extensions.CloisterFrontendService.getTaskEvidence.path;
  const watchPath = extensions.CloisterFrontendService.watchTask.path;
  server.addService(
    extensions.CloisterFrontendService,
    {
      getTaskEvidence: unary(async (request: extensions.GetTaskEvidenceRequest, call: Call) => {
        const md = readIdentityMetadata(call.metadata);
        return gate.call(
          "get_task_evidence",
          { id: md.id, token: md.token, ip: ipBytes(peerAddress(call.getPeer())) },
          (caller) =>
            callUnary(mgmtExt, "getTaskEvidence", request, {
              metadata: forwardedMetadata(call.metadata, caller.role),
              deadlineMs,
              waitForReady: true,
            }),
          admitted.get(call.metadata),
        );
      }, ctx.log),
      watchTask: watchTaskHandler({
        gate,
        management: mgmtExt,
        admitted: (metadata) => admitted.get(metadata),
        forwardedMetadata,
        peerAddress: (call) => peerAddress(call.getPeer()),
        log: ctx.log,
      }),
    } satisfies extensions.CloisterFrontendServer,
    {
      admit: async ({ path, metadata, peer }) => {
        const md = readIdentityMetadata(metadata);
        const api = path === evidencePath ? "get_task_evidence" : path === watchPath ? "get_task" : path;
        const claims = await gate.authenticate(api, {
          id: md.id,
          token: md.token,
          ip: ipBytes(peer),
        });
        admitted.set(metadata, claims);
      },
    },
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
