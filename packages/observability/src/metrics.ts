// One registry per service process with the series operators need. Names follow Prometheus
// conventions (base units, _total for counters); labels are low-cardinality by construction:
// RPC methods come from the service definitions, never from request data.
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import { type HistogramSeries, SeriesCounter, SeriesHistogram } from "./series.js";

const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const TASK_BUCKETS = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 600];

export class ServiceMetrics {
  readonly registry = new Registry();
  /** Observed on every call: series resolved once per label set (see series.ts). */
  readonly rpcRequests: SeriesCounter;
  readonly rpcDuration: SeriesHistogram;
  readonly attestationRefreshes: Counter;
  readonly tasks: Counter<"state">;
  readonly queueDepth: Gauge<"queue">;
  readonly taskDuration: Histogram<"executor" | "outcome">;
  readonly poolSize: Gauge<"pool" | "state">;
  readonly poolRefill: Histogram<"pool">;
  readonly storageLatency: SeriesHistogram;

  constructor(readonly service: string) {
    this.registry.setDefaultLabels({ service });
    collectDefaultMetrics({ register: this.registry, prefix: "cloister_" });
    const r = [this.registry];
    this.rpcRequests = new SeriesCounter({
      name: "cloister_rpc_requests_total",
      help: "RPCs served, by method, gRPC status code and transport (grpc, or in-process from a co-hosted service)",
      labelNames: ["method", "code", "transport"],
      registers: r,
    });
    this.rpcDuration = new SeriesHistogram({
      name: "cloister_rpc_duration_seconds",
      help: "Time from an RPC's arrival to its status, by method, code and transport",
      labelNames: ["method", "code", "transport"],
      buckets: LATENCY_BUCKETS,
      registers: r,
    });
    this.attestationRefreshes = new Counter({
      name: "cloister_attestation_refreshes_total",
      help: "Times this service re-attested (new key, quote and certificate)",
      registers: r,
    });
    this.tasks = new Counter({
      name: "cloister_tasks_total",
      help: "Task state transitions seen by this service",
      labelNames: ["state"],
      registers: r,
    });
    this.queueDepth = new Gauge({
      name: "cloister_queue_depth",
      help: "Items waiting in a queue",
      labelNames: ["queue"],
      registers: r,
    });
    this.taskDuration = new Histogram({
      name: "cloister_task_duration_seconds",
      help: "Task run time on an execution node, by executor and outcome",
      labelNames: ["executor", "outcome"],
      buckets: TASK_BUCKETS,
      registers: r,
    });
    this.poolSize = new Gauge({
      name: "cloister_pool_instances",
      help: "Sandbox or instance pool size, by pool and state (warm, starting, running)",
      labelNames: ["pool", "state"],
      registers: r,
    });
    this.poolRefill = new Histogram({
      name: "cloister_pool_refill_seconds",
      help: "Time to start one pooled sandbox or instance",
      labelNames: ["pool"],
      buckets: LATENCY_BUCKETS,
      registers: r,
    });
    this.storageLatency = new SeriesHistogram({
      name: "cloister_storage_operation_seconds",
      help: "Latency of state-store operations, by operation",
      labelNames: ["operation"],
      buckets: LATENCY_BUCKETS,
      registers: r,
    });
  }

  /** Times `fn` into the storage latency histogram (one derived promise, no async wrapper). */
  timeStorage<T>(operation: string, fn: () => Promise<T>): Promise<T> {
    const series = this.storageSeries(operation);
    const started = performance.now();
    const observe = () => series.observe((performance.now() - started) / 1e3);
    let pending: Promise<T>;
    try {
      pending = fn();
    } catch (e) {
      observe();
      return Promise.reject(e);
    }
    return pending.then(
      (value) => {
        observe();
        return value;
      },
      (e: unknown) => {
        observe();
        throw e;
      },
    );
  }

  /** The series of one storage operation, resolved once. */
  private storageSeries(operation: string): HistogramSeries {
    let series = this.storageChildren.get(operation);
    if (!series) {
      series = this.storageLatency.child({ operation });
      this.storageChildren.set(operation, series);
    }
    return series;
  }
  private readonly storageChildren = new Map<string, HistogramSeries>();

  /** The exposition text and its content type. */
  async exposition(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
