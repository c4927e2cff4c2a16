// grpc.health.v1 on a service's attested endpoints. The empty service name and the service's
// own gRPC service names answer from the dependency checks; other names are NOT_FOUND (Check)
// or SERVICE_UNKNOWN (Watch), as the protocol defines.
import { health } from "@cloister/proto";
import * as grpc from "@grpc/grpc-js";
import type { HealthState } from "./health.js";

const { ServingStatus } = { ServingStatus: health.HealthCheckResponse_ServingStatus };

export function healthServiceImplementation(
  state: HealthState,
  knownServices: () => readonly string[],
): health.HealthServer {
  const known = (name: string) => name === "" || knownServices().includes(name);
  const status = async () =>
    (await state.report()).ready ? ServingStatus.SERVING : ServingStatus.NOT_SERVING;
  return {
    check(call, callback) {
      if (!known(call.request.service)) {
        callback({ code: grpc.status.NOT_FOUND, details: "unknown service" });
        return;
      }
      status().then(
        (s) => callback(null, { status: s }),
        () => callback(null, { status: ServingStatus.NOT_SERVING }),
      );
    },
    watch(call) {
      if (!known(call.request.service)) {
        call.write({ status: ServingStatus.SERVICE_UNKNOWN });
        return;
      }
      let lastSent: number | undefined;
      const send = (s: number) => {
        if (s !== lastSent && !call.cancelled) {
          lastSent = s;
          call.write({ status: s });
        }
      };
      const onChange = (ready: boolean) => send(ready ? ServingStatus.SERVING : ServingStatus.NOT_SERVING);
      state.on("change", onChange);
      // Re-run the checks now and then so a watcher learns of a dependency that went away.
      const timer = setInterval(() => void status().then(send), 5000);
      const stop = () => {
        clearInterval(timer);
        state.off("change", onChange);
      };
      call.on("cancelled", stop);
      call.on("close", stop);
      status().then(send, () => send(ServingStatus.NOT_SERVING));
    },
  };
}
