// RPC metrics as a grpc-js server interceptor: one layer that sees every call of every service
// registered on a server, so no handler has to remember to count itself.
import * as grpc from "@grpc/grpc-js";
import type { ServiceMetrics } from "./metrics.js";

/** Short method label: `/pkg.Service/Method` → `Service/Method`. */
export function methodLabel(path: string): string {
  const m = /^\/(?:[\w.]+\.)?(\w+)\/(\w+)$/.exec(path);
  return m ? `${m[1]}/${m[2]}` : "unknown";
}

/** The same series for a call made in process (`AttestedServer` `onLocalCall`). */
export function localCallMetrics(
  metrics: ServiceMetrics,
): (path: string, code: number, seconds: number) => void {
  return (path, code, seconds) => {
    const labels = {
      method: methodLabel(path),
      code: grpc.status[code] ?? String(code),
      transport: "in-process",
    };
    metrics.rpcRequests.inc(labels);
    metrics.rpcDuration.observe(labels, seconds);
  };
}

export function metricsInterceptor(metrics: ServiceMetrics): grpc.ServerInterceptor {
  return (descriptor, call) => {
    const method = methodLabel(descriptor.path);
    const started = process.hrtime.bigint();
    let done = false;
    const record = (code: grpc.status | undefined) => {
      if (done) return;
      done = true;
      const labels = {
        method,
        code: grpc.status[code ?? grpc.status.UNKNOWN] ?? String(code),
        transport: "grpc",
      };
      metrics.rpcRequests.inc(labels);
      metrics.rpcDuration.observe(labels, Number(process.hrtime.bigint() - started) / 1e9);
    };
    return new grpc.ServerInterceptingCall(call, {
      start(next) {
        next({
          onCancel() {
            record(grpc.status.CANCELLED);
          },
        });
      },
      sendStatus(status, next) {
        record(status.code);
        next(status);
      },
    });
  };
}
