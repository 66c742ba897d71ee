/**
 * The process's Prometheus registry: counters, gauges and histograms with labels, kept by prom-client and
 * rendered in the text exposition format for `GET /metrics`. A thin layer over prom-client that insists on
 * every declared label (a missing one would silently open a second series) and lets a metric refresh itself
 * through `collect` at each scrape.
 */
import {
  Counter as PromCounter,
  Gauge as PromGauge,
  Histogram as PromHistogram,
  Registry,
} from "prom-client";
import { registerProcessMetrics } from "./process-metrics.ts";

/** Content-Type of `render()`'s output. */
export const METRICS_CONTENT_TYPE = Registry.PROMETHEUS_CONTENT_TYPE;

/** Prometheus' default histogram buckets, in seconds. */
export const DEFAULT_BUCKETS: readonly number[] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

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
  /** Called with the gauge at each render, and awaited, to refresh it (e.g. read memory use). Default none. */
  collect?: (gauge: Gauge<L>) => void | Promise<void>;
}

export interface HistogramOptions<L extends string> extends MetricOptions<L> {
  /** Upper bounds of the buckets, ascending, in the metric's unit. Default DEFAULT_BUCKETS (seconds). */
  buckets?: readonly number[];
  /** Called with the histogram at each render, and awaited, to observe what happened since (e.g. new rows). Default none. */
  collect?: (histogram: Histogram<L>) => void | Promise<void>;
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
  render(): Promise<string>;
}

export interface CreateMetricsOptions {
  /** Add the process_* metrics that are true under Bun (see process-metrics.ts). Default false. */
  processMetrics?: boolean;
}

export function createMetrics(options: CreateMetricsOptions = {}): MetricsRegistry {
  const registry = new Registry();
  if (options.processMetrics === true) registerProcessMetrics(registry);
  const checked = <L extends string>(metric: MetricOptions<L>) => {
    if (registry.getSingleMetric(metric.name) !== undefined) {
      throw new TypeError(`metric ${metric.name} is already defined`);
    }
    return labelsOf(metric);
  };
  return {
    counter<L extends string>(metric: MetricOptions<L>): Counter<L> {
      const labels = checked(metric);
      const counter = new PromCounter({ ...promOptions(metric), registers: [registry] });
      return {
        inc(given, by = 1) {
          if (!(by >= 0)) throw new RangeError(`counter ${metric.name} can only increase`);
          counter.inc(labels(given), by);
        },
      };
    },
    gauge<L extends string>(metric: GaugeOptions<L>): Gauge<L> {
      const labels = checked(metric);
      const gauge: Gauge<L> = {
        set: (given, value) => prom.set(labels(given), value),
        inc: (given, by = 1) => prom.inc(labels(given), by),
        dec: (given, by = 1) => prom.dec(labels(given), by),
      };
      const collect = metric.collect;
      const prom: PromGauge<L> = new PromGauge({
        ...promOptions(metric),
        registers: [registry],
        ...(collect === undefined ? {} : { collect: () => collect(gauge) }),
      });
      return gauge;
    },
    histogram<L extends string>(metric: HistogramOptions<L>): Histogram<L> {
      const labels = checked(metric);
      const buckets = metric.buckets ?? DEFAULT_BUCKETS;
      // prom-client sorts its buckets and tolerates duplicates; a wrong list here is a typo, so name it.
      if (
        buckets.some((bound, i) => !Number.isFinite(bound) || (i > 0 && bound <= (buckets[i - 1] ?? bound)))
      ) {
        throw new TypeError(`buckets of ${metric.name} must be finite and strictly ascending`);
      }
      const histogram: Histogram<L> = {
        observe: (given, value) => prom.observe(labels(given), value),
        startTimer(given) {
          const started = performance.now();
          return () => {
            const seconds = (performance.now() - started) / 1000;
            prom.observe(labels(given), seconds);
            return seconds;
          };
        },
      };
      const collect = metric.collect;
      const prom: PromHistogram<L> = new PromHistogram({
        ...promOptions(metric),
        buckets: [...buckets],
        registers: [registry],
        ...(collect === undefined ? {} : { collect: () => collect(histogram) }),
      });
      return histogram;
    },
    render: () => registry.metrics(),
  };
}

function promOptions<L extends string>(metric: MetricOptions<L>) {
  return { name: metric.name, help: metric.help, labelNames: [...(metric.labelNames ?? [])] };
}

/** Checks that exactly the declared labels are given; prom-client would accept a subset as another series. */
function labelsOf<L extends string>(metric: MetricOptions<L>) {
  const names = metric.labelNames ?? [];
  return (given: Labels<L> | undefined): Partial<Record<L, string | number>> => {
    const labels = given ?? ({} as Labels<L>);
    const keys = Object.keys(labels);
    if (keys.length !== names.length || names.some((name) => !(name in labels))) {
      throw new TypeError(`${metric.name} needs labels [${names.join(", ")}], got [${keys.join(", ")}]`);
    }
    return labels;
  };
}
