import type { Logger } from "../core/log.ts";
import type { MetricsRegistry } from "../core/metrics.ts";
import { type BrokerAddress, type QueueDepths, readQueueDepths } from "../jobs/ops/queue-depths.ts";

/**
 * Registers the broker's queue depths (`broker_queue_jobs{state}`). Rendering is synchronous and the broker
 * is not, so each scrape starts one bounded read and shows the answer of the one before it: the values lag
 * one scrape interval. A failed read is logged and counted, and leaves the last values.
 */
export function registerQueueDepthMetrics(
  registry: MetricsRegistry,
  broker: BrokerAddress,
  log: Logger,
): void {
  let latest: QueueDepths | undefined;
  // One read at a time: scrapes faster than a slow broker must not pile up connections.
  let inFlight = false;
  const failures = registry.counter({
    name: "broker_queue_read_failures_total",
    help: "Scrapes whose bounded read of the broker's queue depths failed or timed out.",
  });
  const refresh = () => {
    if (inFlight) return;
    inFlight = true;
    void readQueueDepths(broker)
      .then(
        (depths) => {
          latest = depths;
        },
        (err: unknown) => {
          failures.inc();
          log.warn({ err }, "queue depths unavailable");
        },
      )
      .finally(() => {
        inFlight = false;
      });
  };
  registry.gauge({
    name: "broker_queue_jobs",
    help: "Jobs in the broker's operations queue by state, as of the previous scrape.",
    labelNames: ["state"],
    collect: (gauge) => {
      refresh();
      if (latest === undefined) return;
      for (const [state, total] of Object.entries(latest)) gauge.set({ state }, total);
    },
  });
}
