import { once } from "node:events";
import type { Logger } from "@cloister/core";
import type { extensions } from "@cloister/proto";
import { readIdentityMetadata, toRpcError, toServiceError } from "@cloister/rpc";
import type * as grpc from "@grpc/grpc-js";
import { ipBytes } from "./audit.js";
import type { Claims, FrontendGate } from "./gate.js";

type Stream = grpc.ServerWritableStream<extensions.WatchTaskRequest, extensions.WatchTaskResponse>;

export interface WatchDeps {
  gate: FrontendGate;
  management: extensions.CloisterManagementClient;
  /** Claims the admission step found for this call's metadata. */
  admitted(metadata: grpc.Metadata): Claims | undefined;
  /** What management gets: the client's application metadata and the token's role. */
  forwardedMetadata(incoming: grpc.Metadata, role: string): grpc.Metadata;
  peerAddress(call: Stream): string;
  log: Logger;
}

/**
 * CloisterFrontend.WatchTask: authenticated at admission, authorised and audited as `get_task`
 * (it is GetTask as a stream), then relayed from management, which applies GetTask's rules to
 * every view it sends. A client that hangs up cancels the relay; that is not a failure.
 */
export function watchTaskHandler(
  deps: WatchDeps,
): grpc.handleServerStreamingCall<extensions.WatchTaskRequest, extensions.WatchTaskResponse> {
  return (call: Stream) => {
    const gone = new AbortController();
    call.once("cancelled", () => gone.abort());
    const md = readIdentityMetadata(call.metadata);
    deps.gate
      .call(
        "get_task",
        { id: md.id, token: md.token, ip: ipBytes(deps.peerAddress(call)) },
        async (caller) => {
          if (gone.signal.aborted) return;
          const upstream = deps.management.watchTask(
            call.request,
            deps.forwardedMetadata(call.metadata, caller.role),
          );
          const cancel = () => upstream.cancel();
          gone.signal.addEventListener("abort", cancel, { once: true });
          try {
            for await (const message of upstream) {
              if (!call.write(message as extensions.WatchTaskResponse))
                await once(call, "drain", { signal: gone.signal });
            }
          } catch (e) {
            if (gone.signal.aborted) return;
            throw toRpcError(e as grpc.ServiceError);
          } finally {
            gone.signal.removeEventListener("abort", cancel);
          }
        },
        deps.admitted(call.metadata),
      )
      .then(
        () => {
          if (!gone.signal.aborted) call.end();
        },
        (err: unknown) => {
          if (!gone.signal.aborted) call.emit("error", toServiceError(err, deps.log));
        },
      );
  };
}
