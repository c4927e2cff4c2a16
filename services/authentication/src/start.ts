import { boundAddress, openSealedStore, type RunningService, type ServiceContext } from "@cloister/host";
import { authentication, Empty } from "@cloister/proto";
import { peerHost, readIdentityMetadata, unary } from "@cloister/rpc";
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
