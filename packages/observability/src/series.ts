// Counters and histograms for the series observed on every call and every storage operation.
// prom-client validates, copies and hashes the label object at each observation (about 1-2 µs);
// here a caller resolves a series once (`child`) and keeps it, and an observation is a few
// additions. They register in a prom-client Registry like its own metrics (same `get()` shape),
// so the exposition text is the one prom-client would write for the same observations.
import type { Registry } from "prom-client";

export type Labels = Readonly<Record<string, string>>;

interface MetricOptions {
  name: string;
  help: string;
  labelNames: readonly string[];
  registers: Registry[];
}

abstract class SeriesMetric<S extends { readonly labels: Labels; readonly count: number }> {
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly string[];
  /** prom-client's cluster aggregation of this type. */
  readonly aggregator = "sum";
  private readonly series = new Map<string, S>();

  constructor(options: MetricOptions) {
    this.name = options.name;
    this.help = options.help;
    this.labelNames = options.labelNames;
    for (const registry of options.registers) registry.registerMetric(this as never);
  }

  protected abstract create(labels: Labels): S;
  protected abstract zero(series: S): void;

  /** The series of `labels` (made once; keep it: observing through it does no label work). */
  child(labels: Labels): S {
    for (const name of Object.keys(labels))
      if (!this.labelNames.includes(name))
        throw new Error(`Added label "${name}" is not included in initial labelset`);
    const key = this.labelNames.map((n) => labels[n] ?? "").join("\u0000");
    let series = this.series.get(key);
    if (!series) {
      series = this.create({ ...labels });
      this.series.set(key, series);
    }
    return series;
  }

  /** Series observed at least once, as prom-client lists the series it has seen. */
  protected observed(): S[] {
    return [...this.series.values()].filter((s) => s.count > 0);
  }

  /** Back to zero; children already handed out stay valid. */
  reset(): void {
    for (const s of this.series.values()) this.zero(s);
  }
}

export class CounterSeries {
  count = 0;
  constructor(readonly labels: Labels) {}
  inc(by = 1): void {
    if (!(by >= 0) || !Number.isFinite(by)) throw new Error("It is not possible to decrease a counter");
    this.count += by;
  }
}

export class SeriesCounter extends SeriesMetric<CounterSeries> {
  readonly type = "counter";

  protected create(labels: Labels): CounterSeries {
    return new CounterSeries(labels);
  }

  protected zero(series: CounterSeries): void {
    series.count = 0;
  }

  async get() {
    return {
      name: this.name,
      help: this.help,
      type: this.type,
      values: this.observed().map((s) => ({ value: s.count, labels: s.labels })),
      aggregator: this.aggregator,
    };
  }
}

export class HistogramSeries {
  /** Observations per bucket (not cumulative); past the last bound only in `count`. */
  readonly buckets: Float64Array;
  sum = 0;
  count = 0;

  constructor(
    readonly labels: Labels,
    private readonly bounds: readonly number[],
  ) {
    this.buckets = new Float64Array(bounds.length);
  }

  observe(value: number): void {
    if (!Number.isFinite(value)) throw new TypeError(`Value is not a valid number: ${value}`);
    const bounds = this.bounds;
    for (let i = 0; i < bounds.length; i++) {
      if (value <= bounds[i]!) {
        this.buckets[i]!++;
        break;
      }
    }
    this.sum += value;
    this.count++;
  }
}

export class SeriesHistogram extends SeriesMetric<HistogramSeries> {
  readonly type = "histogram";
  readonly buckets: readonly number[];

  constructor(options: MetricOptions & { buckets: readonly number[] }) {
    super(options);
    if (options.labelNames.includes("le")) throw new Error("le is a reserved label keyword");
    this.buckets = [...options.buckets].sort((a, b) => a - b);
  }

  protected create(labels: Labels): HistogramSeries {
    return new HistogramSeries(labels, this.buckets);
  }

  protected zero(series: HistogramSeries): void {
    series.buckets.fill(0);
    series.sum = 0;
    series.count = 0;
  }

  /** prom-client's layout: `le` as the line's own label, the series labels shared. */
  async getForPromString() {
    const values: Array<{
      labels: Record<string, string | number>;
      sharedLabels: Labels;
      value: number;
      metricName: string;
      exemplar: null | undefined;
    }> = [];
    const bucket = `${this.name}_bucket`;
    for (const s of this.observed()) {
      let cumulative = 0;
      this.buckets.forEach((le, i) => {
        cumulative += s.buckets[i]!;
        values.push({
          labels: { le },
          sharedLabels: s.labels,
          value: cumulative,
          metricName: bucket,
          exemplar: null,
        });
      });
      values.push(
        {
          labels: { le: "+Inf" },
          sharedLabels: s.labels,
          value: s.count,
          metricName: bucket,
          exemplar: null,
        },
        {
          labels: {},
          sharedLabels: s.labels,
          value: s.sum,
          metricName: `${this.name}_sum`,
          exemplar: undefined,
        },
        {
          labels: {},
          sharedLabels: s.labels,
          value: s.count,
          metricName: `${this.name}_count`,
          exemplar: undefined,
        },
      );
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }

  async get() {
    const data = await this.getForPromString();
    return {
      ...data,
      values: data.values.map(({ sharedLabels, labels, ...v }) => ({
        ...v,
        labels: { ...labels, ...sharedLabels },
      })),
    };
  }
}
