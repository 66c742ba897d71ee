import type { MetricsRegistry } from "../core/metrics.ts";
import type { HetznerRequestEvent, RateLimitBudget } from "../hetzner/index.ts";

/**
 * Registers this process's Hetzner request metrics and returns the client hook that feeds them
 * (`createHetznerClient({ onRequest })`): requests by method and outcome, 429s, and the rate-limit budget
 * left as the shared budget estimates it (NaN before the first answer tells it).
 */
export function createHetznerMetrics(
  registry: MetricsRegistry,
  budget: RateLimitBudget,
): (event: HetznerRequestEvent) => void {
  const requests = registry.counter({
    name: "hetzner_requests_total",
    help: "HTTP requests to the Hetzner API (retries included), by method and outcome (ok or the error code).",
    labelNames: ["method", "outcome"],
  });
  const rateLimited = registry.counter({
    name: "hetzner_rate_limited_total",
    help: "Hetzner answers 429 rate_limit_exceeded.",
  });
  registry.gauge({
    name: "hetzner_rate_limit_remaining",
    help: "Requests the project's Hetzner rate-limit budget has left, as estimated from RateLimit-Remaining.",
    collect: (gauge) => gauge.set({}, budget.remaining() ?? Number.NaN),
  });
  return (event) => {
    requests.inc({ method: event.method, outcome: event.outcome });
    if (event.status === 429) rateLimited.inc();
  };
}
