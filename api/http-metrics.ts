import type { MetricsRegistry } from "../core/metrics.ts";

export interface HttpMetrics {
  /** Records one answered request; `route` is the route template, never the raw path. */
  observe(method: string, route: string, status: number, durationMs: number): void;
}

export function createHttpMetrics(metrics: MetricsRegistry): HttpMetrics {
  const requests = metrics.counter({
    name: "http_requests_total",
    help: "HTTP requests answered, by method, route template and status.",
    labelNames: ["method", "route", "status"],
  });
  const duration = metrics.histogram({
    name: "http_request_duration_seconds",
    help: "Time to answer an HTTP request, by method and route template.",
    labelNames: ["method", "route"],
  });
  return {
    observe(method, route, status, durationMs) {
      requests.inc({ method, route, status });
      duration.observe({ method, route }, durationMs / 1000);
    },
  };
}
