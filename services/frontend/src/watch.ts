import type { extensions } from "@cloister/proto";
import { toRpcError } from "@cloister/rpc";
import type * as grpc from "@grpc/grpc-js";

/**
 * CloisterFrontend.WatchTask's messages, relayed from management's WatchTask (which applies
 * GetTask's rules to every view it sends). `signal` (the client going away) cancels the relay;
 * management's statuses pass through unchanged.
 */
export async function* relayWatch(
  management: extensions.CloisterManagementClient,
  request: extensions.WatchTaskRequest,
  metadata: grpc.Metadata,
  signal: AbortSignal | undefined,
): AsyncGenerator<extensions.WatchTaskResponse> {
  const upstream = management.watchTask(request, metadata);
  const cancel = () => upstream.cancel();
  signal?.addEventListener("abort", cancel, { once: true });
  try {
    for await (const message of upstream) yield message as extensions.WatchTaskResponse;
  } catch (e) {
    if (signal?.aborted) return;
    throw toRpcError(e as grpc.ServiceError);
  } finally {
    signal?.removeEventListener("abort", cancel);
    upstream.cancel();
  }
}
