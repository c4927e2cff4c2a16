// RPC metrics as a grpc-js server interceptor: one layer that sees every call of every service
// registered on a server, so no handler has to remember to count itself.
import * as grpc from "@grpc/grpc-js";
import type { ServiceMetrics } from "./metrics.js";
import type { CounterSeries, HistogramSeries } from "./series.js";

/** Short method label: `/pkg.Service/Method` → `Service/Method`. */
export function methodLabel(path: string): string {
  const m = /^\/(?:[\w.]+\.)?(\w+)\/(\w+)$/.exec(path);
  return m ? `${m[1]}/${m[2]}` : "unknown";
}

type Transport = "grpc" | "in-process";
interface CallSeries {
  requests: CounterSeries;
  duration: HistogramSeries;
}

/**
 * The series of each method and status code, resolved on first use: a call then records itself
 * with two additions and no label work (the label set of a method is fixed).
 */
function seriesTable(metrics: ServiceMetrics, transport: Transport) {
  const byPath = new Map<string, CallSeries[]>();
  return (path: string, code: number): CallSeries => {
    let codes = byPath.get(path);
    if (!codes) {
      codes = [];
      byPath.set(path, codes);
    }
    let series = codes[code];
    if (!series) {
      const labels = { method: methodLabel(path), code: grpc.status[code] ?? String(code), transport };
      series = { requests: metrics.rpcRequests.child(labels), duration: metrics.rpcDuration.child(labels) };
      // Codes are small integers (0-16); anything else is not worth a slot.
      if (Number.isInteger(code) && code >= 0 && code < 64) codes[code] = series;
    }
    return series;
  };
}

/** The same series for a call made in process (`AttestedServer` `onLocalCall`). */
export function localCallMetrics(
  metrics: ServiceMetrics,
): (path: string, code: number, seconds: number) => void {
  const table = seriesTable(metrics, "in-process");
  return (path, code, seconds) => {
    const series = table(path, code);
    series.requests.inc();
    series.duration.observe(seconds);
  };
}

/**
 * Where @cloister/rpc's own HTTP/2 server finds the plain observer of a metrics interceptor
 * (`observedInterceptor` there): it calls it as each call ends instead of running grpc-js's
 * interceptor machinery. A registered symbol, so this package needs no dependency on rpc.
 */
const CALL_OBSERVER = Symbol.for("cloister.rpc.callObserver");

export function metricsInterceptor(metrics: ServiceMetrics): grpc.ServerInterceptor {
  const table = seriesTable(metrics, "grpc");
  const observe = (path: string, code: number, seconds: number) => {
    const series = table(path, code);
    series.requests.inc();
    series.duration.observe(seconds);
  };
  const interceptor: grpc.ServerInterceptor = (descriptor, call) => {
    const path = descriptor.path;
    const started = performance.now();
    let done = false;
    const record = (code: grpc.status | undefined) => {
      if (done) return;
      done = true;
      observe(path, code ?? grpc.status.UNKNOWN, (performance.now() - started) / 1e3);
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
  return Object.assign(interceptor, { [CALL_OBSERVER]: observe });
}
