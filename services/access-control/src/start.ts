import { cloisterError } from "@cloister/core";
import { boundAddress, type RunningService, type ServiceContext } from "@cloister/host";
import { accessControl } from "@cloister/proto";
import { logging, serve } from "@cloister/rpc";
import { AccessControl } from "./service.js";

export async function start(ctx: ServiceContext): Promise<RunningService> {
  const acs = await AccessControl.open();
  const server = ctx.internalServer();
  serve<accessControl.TeaclaveAccessControlServer>(
    server,
    accessControl.TeaclaveAccessControlService,
    {
      authorizeApi: async (req) => {
        try {
          return { accept: await acs.authorize(req.userRole, req.api) };
        } catch (e) {
          ctx.log.error({ err: e }, "policy evaluation failed");
          throw cloisterError("ACCESS_CONTROL_ERROR");
        }
      },
    },
    // The frontend and management, as the endpoint's connection check admits them.
    { layers: [logging(ctx.log)], policy: { authorizeApi: "peer" }, log: ctx.log },
  );
  const port = await server.listen(ctx.config.listen.access_control);
  return {
    endpoints: [
      { name: "access control (internal)", address: boundAddress(ctx.config.listen.access_control, port) },
    ],
    close: () => server.close(),
  };
}
