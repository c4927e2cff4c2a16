export { healthServiceImplementation } from "./grpc-health.js";
export { type CheckFn, type CheckResult, type HealthReport, HealthState } from "./health.js";
export { localCallMetrics, methodLabel, metricsInterceptor } from "./interceptor.js";
export { ServiceMetrics } from "./metrics.js";
export { type OpsServer, type OpsServerOptions, startOpsServer } from "./ops-server.js";
export { CounterSeries, HistogramSeries, type Labels, SeriesCounter, SeriesHistogram } from "./series.js";
export { TIMED_STORE_OPERATIONS, timedStore } from "./timed-store.js";
