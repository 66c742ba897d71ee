import type { MetricsRegistry } from "../core/metrics.ts";
import type { HetznerRequestEvent, RateLimitBudget } from "../hetzner/index.ts";

/**
 * Registers this process's Hetzner request metrics, labelled by project (each has its own budget), and
 * returns the client hook that feeds them for one project (`createHetznerClient({ onRequest })`): requests by
 * method and outcome, 429s, and the rate-limit budget left as the project's budget estimates it (NaN before
 * the first answer tells it).
 */
export function createHetznerMetrics(
  registry: MetricsRegistry,
  budgets: ReadonlyMap<string, RateLimitBudget>,
): (project: string) => (event: HetznerRequestEvent) => void {
  const requests = registry.counter({
    name: "hetzner_requests_total",
    help: "HTTP requests to the Hetzner API (retries included), by project, method and outcome (ok or the error code).",
    labelNames: ["project", "method", "outcome"],
  });
  const rateLimited = registry.counter({
    name: "hetzner_rate_limited_total",
    help: "Hetzner answers 429 rate_limit_exceeded, by project.",
    labelNames: ["project"],
  });
  registry.gauge({
    name: "hetzner_rate_limit_remaining",
    help: "Requests each project's Hetzner rate-limit budget has left, as estimated from RateLimit-Remaining.",
    labelNames: ["project"],
    collect: (gauge) => {
      for (const [project, budget] of budgets) gauge.set({ project }, budget.remaining() ?? Number.NaN);
    },
  });
  return (project) => (event) => {
    requests.inc({ project, method: event.method, outcome: event.outcome });
    if (event.status === 429) rateLimited.inc({ project });
  };
}
