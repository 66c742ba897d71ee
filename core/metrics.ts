/**
 * A small Prometheus registry: counters, gauges and histograms with labels, rendered synchronously in
 * the text exposition format for `GET /metrics`.
 *
 * Hand-written rather than prom-client: prom-client 15 runs under Bun, but its exposition is
 * async-only and its default process metrics report nonsense there (event-loop lag is a stub).
 */
import { formatSample, type LabelPairs, renderFamily } from "./metrics-text.ts";

/** Content-Type of `render()`'s output. */
export const METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/** Prometheus' default histogram buckets, in seconds. */
export const DEFAULT_BUCKETS: readonly number[] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** Label values by label name; every declared label must be given. */
export type Labels<L extends string> = Readonly<Record<L, string | number>>;

export interface MetricOptions<L extends string> {
  /** Metric name, e.g. "http_requests_total"; units in the name ("_seconds", "_bytes"). */
  name: string;
  /** One line describing what is counted or measured. */
  help: string;
  /** Label names every sample carries. Default none. */
  labelNames?: readonly L[];
}

export interface GaugeOptions<L extends string> extends MetricOptions<L> {
  /** Called with the gauge at each render to refresh it (e.g. read memory use). Default none. */
  collect?: (gauge: Gauge<L>) => void;
}

export interface HistogramOptions<L extends string> extends MetricOptions<L> {
  /** Upper bounds of the buckets, ascending, in the metric's unit. Default DEFAULT_BUCKETS (seconds). */
  buckets?: readonly number[];
  /** Called with the histogram at each render to observe what happened since (e.g. new rows). Default none. */
  collect?: (histogram: Histogram<L>) => void;
}

export interface Counter<L extends string> {
  /** Adds `by` (default 1, never negative). */
  inc(labels?: Labels<L>, by?: number): void;
}

export interface Gauge<L extends string> {
  set(labels: Labels<L>, value: number): void;
  inc(labels?: Labels<L>, by?: number): void;
  dec(labels?: Labels<L>, by?: number): void;
}

export interface Histogram<L extends string> {
  observe(labels: Labels<L>, value: number): void;
  /** Starts a timer; calling the result observes the elapsed seconds and returns them. */
  startTimer(labels: Labels<L>): () => number;
}

export interface MetricsRegistry {
  counter<L extends string = never>(options: MetricOptions<L>): Counter<L>;
  gauge<L extends string = never>(options: GaugeOptions<L>): Gauge<L>;
  histogram<L extends string = never>(options: HistogramOptions<L>): Histogram<L>;
  /** Every metric in the Prometheus text format, ending with a newline. */
  render(): string;
}

interface Family {
  render(): string;
}

export function createMetrics(): MetricsRegistry {
  const families = new Map<string, Family>();
  const register = <F extends Family>(options: MetricOptions<string>, build: () => F): F => {
    validateNames(options);
    if (families.has(options.name)) throw new TypeError(`metric ${options.name} is already defined`);
    const family = build();
    families.set(options.name, family);
    return family;
  };
  return {
    counter: (options) => register(options, () => createCounter(options)),
    gauge: (options) => register(options, () => createGauge(options)),
    histogram: (options) => register(options, () => createHistogram(options)),
    render: () => [...families.values()].map((family) => family.render()).join(""),
  };
}

function validateNames(options: MetricOptions<string>): void {
  if (!METRIC_NAME.test(options.name)) throw new TypeError(`invalid metric name ${options.name}`);
  for (const label of options.labelNames ?? []) {
    if (!LABEL_NAME.test(label) || label.startsWith("__") || label === "le") {
      throw new TypeError(`invalid label name ${label} on ${options.name}`);
    }
  }
}

/** Samples keyed by their label values, so each label combination is one series. */
class Series<L extends string, V> {
  private readonly byKey = new Map<string, { pairs: LabelPairs; value: V }>();
  constructor(
    private readonly options: MetricOptions<L>,
    private readonly initial: () => V,
  ) {}

  get(labels: Labels<L> | undefined): { pairs: LabelPairs; value: V } {
    const pairs = this.pairsOf(labels ?? ({} as Labels<L>));
    const key = JSON.stringify(pairs);
    let entry = this.byKey.get(key);
    if (entry === undefined) {
      entry = { pairs, value: this.initial() };
      this.byKey.set(key, entry);
    }
    return entry;
  }

  /** Unlabelled metrics show 0 before their first update, so dashboards see a value rather than a gap. */
  all(): { pairs: LabelPairs; value: V }[] {
    if (this.byKey.size === 0 && (this.options.labelNames ?? []).length === 0) this.get(undefined);
    return [...this.byKey.values()];
  }

  private pairsOf(labels: Labels<L>): LabelPairs {
    const names = this.options.labelNames ?? [];
    const given = Object.keys(labels);
    if (given.length !== names.length || names.some((name) => !(name in labels))) {
      throw new TypeError(
        `${this.options.name} needs labels [${names.join(", ")}], got [${given.join(", ")}]`,
      );
    }
    return names.map((name) => [name, String(labels[name])]);
  }
}

function createCounter<L extends string>(options: MetricOptions<L>): Counter<L> & Family {
  const series = new Series<L, { total: number }>(options, () => ({ total: 0 }));
  return {
    inc(labels, by = 1) {
      if (!(by >= 0)) throw new RangeError(`counter ${options.name} can only increase`);
      series.get(labels).value.total += by;
    },
    render: () =>
      renderFamily(
        options,
        "counter",
        series.all().map((s) => formatSample(options.name, s.pairs, s.value.total)),
      ),
  };
}

function createGauge<L extends string>(options: GaugeOptions<L>): Gauge<L> & Family {
  const series = new Series<L, { current: number }>(options, () => ({ current: 0 }));
  const gauge: Gauge<L> = {
    set(labels, value) {
      series.get(labels).value.current = value;
    },
    inc(labels, by = 1) {
      series.get(labels).value.current += by;
    },
    dec(labels, by = 1) {
      series.get(labels).value.current -= by;
    },
  };
  return {
    ...gauge,
    render() {
      options.collect?.(gauge);
      const samples = series.all().map((s) => formatSample(options.name, s.pairs, s.value.current));
      return renderFamily(options, "gauge", samples);
    },
  };
}

function createHistogram<L extends string>(options: HistogramOptions<L>): Histogram<L> & Family {
  const bounds = options.buckets ?? DEFAULT_BUCKETS;
  // The +Inf bucket is always added, so the given bounds are finite.
  if (bounds.some((bound, i) => !Number.isFinite(bound) || (i > 0 && bound <= (bounds[i - 1] ?? bound)))) {
    throw new TypeError(`buckets of ${options.name} must be finite and strictly ascending`);
  }
  const series = new Series<L, { counts: number[]; sum: number; count: number }>(options, () => ({
    counts: bounds.map(() => 0),
    sum: 0,
    count: 0,
  }));
  const observe = (labels: Labels<L>, value: number): void => {
    const state = series.get(labels).value;
    const index = bounds.findIndex((bound) => value <= bound);
    if (index >= 0) state.counts[index] = (state.counts[index] ?? 0) + 1;
    state.sum += value;
    state.count += 1;
  };
  const histogram: Histogram<L> = {
    observe,
    startTimer(labels) {
      const started = performance.now();
      return () => {
        const seconds = (performance.now() - started) / 1000;
        observe(labels, seconds);
        return seconds;
      };
    },
  };
  return {
    ...histogram,
    render() {
      options.collect?.(histogram);
      const samples = series.all().flatMap(({ pairs, value }) => {
        let cumulative = 0;
        const buckets = bounds.map((bound, i) => {
          cumulative += value.counts[i] ?? 0;
          return formatSample(`${options.name}_bucket`, [...pairs, ["le", String(bound)]], cumulative);
        });
        return [
          ...buckets,
          formatSample(`${options.name}_bucket`, [...pairs, ["le", "+Inf"]], value.count),
          formatSample(`${options.name}_sum`, pairs, value.sum),
          formatSample(`${options.name}_count`, pairs, value.count),
        ];
      });
      return renderFamily(options, "histogram", samples);
    },
  };
}
