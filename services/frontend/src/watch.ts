import type { extensions } from "@cloister/proto";
import { type RpcContext, toRpcError } from "@cloister/rpc";
import type * as grpc from "@grpc/grpc-js";

/**
 * CloisterFrontend.WatchTask's messages, relayed from management's WatchTask (which applies
 * GetTask's rules to every view it sends). The client going away (`rc.signal`) cancels the relay;
 * management's statuses pass through unchanged.
 */
export async function* relayWatch(
  management: extensions.CloisterManagementClient,
  request: extensions.WatchTaskRequest,
  metadata: grpc.Metadata,
  rc: RpcContext,
): AsyncGenerator<extensions.WatchTaskResponse> {
  const upstream = management.watchTask(request, metadata);
  const cancel = () => upstream.cancel();
  rc.signal?.addEventListener("abort", cancel, { once: true });
  try {
    for await (const message of upstream) yield message as extensions.WatchTaskResponse;
  } catch (e) {
    if (rc.signal?.aborted) return;
    throw toRpcError(e as grpc.ServiceError);
  } finally {
    rc.signal?.removeEventListener("abort", cancel);
    upstream.cancel();
  }
}
