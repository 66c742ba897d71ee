import type { Logger } from "../core/log.ts";
import type { MetricsRegistry } from "../core/metrics.ts";
import { type BrokerAddress, type QueueDepths, readQueueDepths } from "../domain/ops/queue-depths.ts";

/**
 * Registers the broker's queue depths (`broker_queue_jobs{state}`), read from the broker at each scrape within
 * QUEUE_DEPTHS_TIMEOUT_MS. A failed read is logged and counted (prom-client renders metrics concurrently, so
 * the count shows from the next scrape), and leaves the last values.
 */
export function registerQueueDepthMetrics(
  registry: MetricsRegistry,
  broker: BrokerAddress,
  log: Logger,
): void {
  // One read at a time: scrapes that overlap a slow broker share it rather than pile up connections.
  let reading: Promise<QueueDepths> | undefined;
  const read = () => {
    reading ??= readQueueDepths(broker).finally(() => {
      reading = undefined;
    });
    return reading;
  };
  const failures = registry.counter({
    name: "broker_queue_read_failures_total",
    help: "Scrapes whose bounded read of the broker's queue depths failed or timed out.",
  });
  registry.gauge({
    name: "broker_queue_jobs",
    help: "Jobs in the broker's operations queue by state, read at scrape time.",
    labelNames: ["state"],
    collect: async (gauge) => {
      try {
        for (const [state, total] of Object.entries(await read())) gauge.set({ state }, total);
      } catch (err) {
        failures.inc();
        log.warn({ err }, "queue depths unavailable");
      }
    },
  });
}
