import type { Logger } from "@cloister/core";
import type { extensions } from "@cloister/proto";
import type * as grpc from "@grpc/grpc-js";
import type { CredentialCache } from "./credentials.js";

/**
 * Keeps `cache` live while authentication's WatchUserChanges stream is open, dropping a user's
 * credentials at each change; reconnects after a loss (the cache is off meanwhile, so every call
 * asks authentication). Returns the stop function.
 */
export function followUserChanges(
  client: extensions.CloisterAuthenticationInternalClient,
  cache: CredentialCache,
  log: Logger,
): () => void {
  let stopped = false;
  let current: grpc.ClientReadableStream<extensions.UserChange> | undefined;
  let retry: NodeJS.Timeout | undefined;
  const connect = () => {
    if (stopped) return;
    const stream = client.watchUserChanges({});
    current = stream;
    stream.on("data", (change: extensions.UserChange) => {
      if (change.userId === "") cache.setLive(true);
      else cache.invalidate(change.userId);
    });
    const lost = (why: unknown) => {
      if (current !== stream) return;
      current = undefined;
      cache.setLive(false);
      if (stopped) return;
      log.debug({ err: why }, "user change stream lost; credential cache off until it is back");
      retry = setTimeout(connect, 1000);
      retry.unref();
    };
    stream.on("error", lost);
    stream.on("end", () => lost("ended"));
  };
  connect();
  return () => {
    stopped = true;
    if (retry) clearTimeout(retry);
    cache.setLive(false);
    current?.cancel();
  };
}
