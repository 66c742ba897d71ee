import { count } from "drizzle-orm";
import type { MetricsRegistry } from "../core/metrics.ts";
import type { Db } from "../db/index.ts";
import { operationStatuses, operations } from "../db/schema.ts";
import { registerFleetMetrics } from "./fleet-metrics.ts";
import { registerStepRunMetrics } from "./step-run-metrics.ts";

/**
 * Job outcomes (and, through registerFleetMetrics and registerStepRunMetrics, instances by state, provision
 * runs, time to ready and step durations) as seen by the shared database, read at scrape time: any process
 * that serves /metrics can report them, and they survive worker restarts (the worker's own counters cover
 * only what it ran since it started, served on WORKER_METRICS_PORT).
 */
export function registerOperationMetrics(metrics: MetricsRegistry, db: Db): void {
  registerFleetMetrics(metrics, db);
  registerStepRunMetrics(metrics, db);
  const gauge = metrics.gauge({
    name: "job_operations",
    help: "Jobs (operations) in the application database, by operation and status.",
    labelNames: ["operation", "status"],
    collect: () => {
      const rows = db
        .select({ operation: operations.operation, status: operations.status, total: count() })
        .from(operations)
        .groupBy(operations.operation, operations.status)
        .all();
      const seen = new Set(rows.map((row) => row.operation));
      // Every status of every known operation is written, so a count that drops to zero shows 0, not a stale value.
      for (const operation of seen) {
        for (const status of operationStatuses) gauge.set({ operation, status }, 0);
      }
      for (const row of rows) gauge.set({ operation: row.operation, status: row.status }, row.total);
    },
  });
}
