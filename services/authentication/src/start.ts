import { cloisterError } from "@cloister/core";
import { boundAddress, openSealedStore, type RunningService, type ServiceContext } from "@cloister/host";
import { authentication, Empty, extensions } from "@cloister/proto";
import { peerHost, readIdentityMetadata, serverStream, unary } from "@cloister/rpc";
import type * as grpc from "@grpc/grpc-js";
import { AuthenticationService } from "./service.js";

type Call = grpc.ServerUnaryCall<unknown, unknown>;
const cred = (call: Call) => readIdentityMetadata(call.metadata);

/** Authentication: the user API (7776, public) and UserAuthenticate for the frontend (17776). */
export async function start(ctx: ServiceContext): Promise<RunningService> {
  const store = await openSealedStore(ctx.config, "authentication");
  const auth = await AuthenticationService.open(store, ctx.log);
  const log = ctx.log;

  const api = ctx.apiServer();
  api.addService(authentication.TeaclaveAuthenticationApiService, {
    userRegister: unary(async (req: authentication.UserRegisterRequest, call: Call) => {
      await auth.userRegister(cred(call), req);
      return Empty.fromPartial({});
    }, log),
    userUpdate: unary(async (req: authentication.UserUpdateRequest, call: Call) => {
      await auth.userUpdate(cred(call), req);
      return Empty.fromPartial({});
    }, log),
    userLogin: unary(
      async (req: authentication.UserLoginRequest, call: Call) => ({
        token: await auth.userLogin(req, peerHost(call.getPeer())),
      }),
      log,
    ),
    userChangePassword: unary(async (req: authentication.UserChangePasswordRequest, call: Call) => {
      await auth.userChangePassword(cred(call), req);
      return Empty.fromPartial({});
    }, log),
    resetUserPassword: unary(
      async (req: authentication.ResetUserPasswordRequest, call: Call) => ({
        password: await auth.resetUserPassword(cred(call), req),
      }),
      log,
    ),
    deleteUser: unary(async (req: authentication.DeleteUserRequest, call: Call) => {
      await auth.deleteUser(cred(call), req);
      return Empty.fromPartial({});
    }, log),
    listUsers: unary(
      async (req: authentication.ListUsersRequest, call: Call) => ({
        ids: await auth.listUsers(cred(call), req),
      }),
      log,
    ),
  } satisfies authentication.TeaclaveAuthenticationApiServer);

  const internal = ctx.internalServer();
  internal.addService(authentication.TeaclaveAuthenticationInternalService, {
    userAuthenticate: unary(async (req: authentication.UserAuthenticateRequest) => {
      const claims = await auth.userAuthenticate(req.credential);
      return { claims: { sub: claims.sub, role: claims.role, iss: claims.iss, exp: claims.exp } };
    }, log),
  } satisfies authentication.TeaclaveAuthenticationInternalServer);
  internal.addService(extensions.CloisterAuthenticationInternalService, {
    watchUserChanges: serverStream(async function* (_req, _call, signal) {
      yield* userChanges(auth, signal);
    }, log),
  } satisfies extensions.CloisterAuthenticationInternalServer);

  const apiPort = await api.listen(ctx.config.listen.authentication_api);
  const internalPort = await internal.listen(ctx.config.listen.authentication_internal);
  return {
    endpoints: [
      { name: "authentication API", address: boundAddress(ctx.config.listen.authentication_api, apiPort) },
      {
        name: "authentication (internal)",
        address: boundAddress(ctx.config.listen.authentication_internal, internalPort),
      },
    ],
    async close() {
      await Promise.all([api.close(), internal.close()]);
      await store.close();
    },
  };
}

const MAX_PENDING_CHANGES = 10_000;

/** Every user change from now on, after a first empty message that says the watch is in place. */
async function* userChanges(
  auth: AuthenticationService,
  signal: AbortSignal,
): AsyncGenerator<extensions.UserChange> {
  const pending: string[] = [];
  let wake: (() => void) | undefined;
  let overflow = false;
  const unsubscribe = auth.onUserChange((id) => {
    // A watcher that does not read is cut off (it then forgets everything it cached).
    if (pending.length >= MAX_PENDING_CHANGES) overflow = true;
    else pending.push(id);
    wake?.();
  });
  const stop = () => wake?.();
  signal.addEventListener("abort", stop, { once: true });
  try {
    yield { userId: "" };
    while (!signal.aborted) {
      if (overflow) throw cloisterError("USER_CHANGES_NOT_READ");
      const id = pending.shift();
      if (id !== undefined) {
        yield { userId: id };
        continue;
      }
      await new Promise<void>((resolve) => {
        wake = resolve;
      });
      wake = undefined;
    }
  } finally {
    unsubscribe();
    signal.removeEventListener("abort", stop);
  }
}
