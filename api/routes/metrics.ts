import { METRICS_CONTENT_TYPE } from "../../core/metrics.ts";
import type { Route } from "../router.ts";

/** Prometheus scrape endpoint for this process's registry. */
export const metricsRoute: Route = {
  method: "GET",
  path: "/metrics",
  handle: async ({ deps }) =>
    new Response(await deps.metrics.render(), { headers: { "content-type": METRICS_CONTENT_TYPE } }),
};
