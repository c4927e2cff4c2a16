import { cloisterError } from "@cloister/core";
import { boundAddress, type RunningService, type ServiceContext } from "@cloister/host";
import { accessControl } from "@cloister/proto";
import { unary } from "@cloister/rpc";
import { AccessControl } from "./service.js";

export async function start(ctx: ServiceContext): Promise<RunningService> {
  const acs = await AccessControl.open();
  const server = ctx.internalServer();
  server.addService(accessControl.TeaclaveAccessControlService, {
    authorizeApi: unary(async (req: accessControl.AuthorizeApiRequest) => {
      try {
        return { accept: await acs.authorize(req.userRole, req.api) };
      } catch (e) {
        ctx.log.error({ err: e }, "policy evaluation failed");
        throw cloisterError("ACCESS_CONTROL_ERROR");
      }
    }, ctx.log),
  } satisfies accessControl.TeaclaveAccessControlServer);
  const port = await server.listen(ctx.config.listen.access_control);
  return {
    endpoints: [
      { name: "access control (internal)", address: boundAddress(ctx.config.listen.access_control, port) },
    ],
    close: () => server.close(),
  };
}
