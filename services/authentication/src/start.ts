import { cloisterError } from "@cloister/core";
import { boundAddress, openSealedStore, type RunningService, type ServiceContext } from "@cloister/host";
import { authentication, Empty, extensions } from "@cloister/proto";
import { type Layer, logging, type RpcContext, serve } from "@cloister/rpc";
import { AuthenticationService, type Caller } from "./service.js";

/** Authentication: the user API (7776, public) and UserAuthenticate for the frontend (17776). */
export async function start(ctx: ServiceContext): Promise<RunningService> {
  const store = await openSealedStore(ctx.config, "authentication");
  const auth = await AuthenticationService.open(store, ctx.log);
  const log = ctx.log;

  // The credential check runs when the headers arrive, before the body is read (as on the
  // frontend); UserLogin is the one method without it.
  const callers = new WeakMap<RpcContext, Caller>();
  const credentials: Layer = {
    name: "authentication",
    async admit(rc) {
      if (rc.method === "userLogin") return;
      const caller = await auth.authenticate({ id: rc.identity.id, token: rc.identity.token });
      callers.set(rc, caller);
      rc.principal = { id: caller.user.id, role: caller.claims.role };
    },
  };
  const caller = (rc: RpcContext): Caller => {
    const c = callers.get(rc);
    // Admission authenticated every call that reaches a handler; anything else is a bug: refuse.
    if (!c) throw new Error(`no authenticated caller for ${rc.method}`);
    return c;
  };
  const done = async (step: Promise<void>) => {
    await step;
    return Empty.fromPartial({});
  };

  const api = ctx.apiServer();
  serve<authentication.TeaclaveAuthenticationApiServer>(
    api,
    authentication.TeaclaveAuthenticationApiService,
    {
      userRegister: (req, rc) => done(auth.userRegister(caller(rc), req)),
      userUpdate: (req, rc) => done(auth.userUpdate(caller(rc), req)),
      userLogin: async (req, rc) => ({ token: await auth.userLogin(req, rc.address) }),
      userChangePassword: (req, rc) => done(auth.userChangePassword(caller(rc), req)),
      resetUserPassword: async (req, rc) => ({ password: await auth.resetUserPassword(caller(rc), req) }),
      deleteUser: (req, rc) => done(auth.deleteUser(caller(rc), req)),
      listUsers: async (req, rc) => ({ ids: await auth.listUsers(caller(rc), req) }),
    },
    {
      layers: [logging(log), credentials],
      // Who may manage whom is decided per request by the service (it needs the target user).
      policy: {
        userLogin: "public",
        userRegister: "authenticated",
        userUpdate: "authenticated",
        userChangePassword: "authenticated",
        resetUserPassword: "authenticated",
        deleteUser: "authenticated",
        listUsers: "authenticated",
      },
      log,
    },
  );

  const internal = ctx.internalServer();
  serve<authentication.TeaclaveAuthenticationInternalServer>(
    internal,
    authentication.TeaclaveAuthenticationInternalService,
    {
      userAuthenticate: async (req) => {
        const claims = await auth.userAuthenticate(req.credential);
        return { claims: { sub: claims.sub, role: claims.role, iss: claims.iss, exp: claims.exp } };
      },
    },
    { layers: [logging(log)], policy: { userAuthenticate: "peer" }, log },
  );
  serve<extensions.CloisterAuthenticationInternalServer>(
    internal,
    extensions.CloisterAuthenticationInternalService,
    { watchUserChanges: (_req, rc) => userChanges(auth, rc.signal ?? new AbortController().signal) },
    { layers: [logging(log)], policy: { watchUserChanges: "peer" }, log },
  );

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
