import { and, count, eq, gte, sql, sum } from "drizzle-orm";
import type { MetricsRegistry } from "../core/metrics.ts";
import type { Db } from "../db/index.ts";
import { instances, operations, rolloutMemberOutcomes, rolloutStatuses } from "../db/schema.ts";
import { INSTANCE_STATES } from "../domain/ops/instances.ts";
import { PROVISION_OPERATION } from "../jobs/provision/operation.ts";
import { latestRolloutView } from "../jobs/rollout/view.ts";
import { newlyFinished } from "./newly-finished.ts";

/** Request-to-ready spans seconds (simulator) to tens of minutes (a slow cloud-init), in seconds. */
const timeToReadyBucketsSeconds = [5, 15, 30, 60, 90, 120, 180, 300, 600, 1200, 1800, 3600];

/**
 * The fleet as the shared database knows it, read at scrape time so it survives restarts of any process:
 * instances by state, provision runs by outcome, and time to ready. The histogram is rebuilt from the
 * database by each API process (every succeeded provision is observed once, the first scrape catching up).
 */
export function registerFleetMetrics(metrics: MetricsRegistry, db: Db): void {
  const observeNewlyReady = readyTimesSince(db);
  metrics.gauge({
    name: "instances",
    help: "Instances in the application database, by state.",
    labelNames: ["state"],
    collect: (gauge) => {
      const rows = db
        .select({ state: instances.status, total: count() })
        .from(instances)
        .groupBy(instances.status)
        .all();
      // Every known state is written, so a state that empties shows 0 rather than its last value.
      for (const state of INSTANCE_STATES) gauge.set({ state }, 0);
      for (const row of rows) gauge.set({ state: row.state }, row.total);
    },
  });
  metrics.histogram({
    name: "provision_time_to_ready_seconds",
    help: "From the provision request to the instance ready, over every succeeded provision (re-runs included).",
    buckets: timeToReadyBucketsSeconds,
    collect: (timeToReady) => {
      for (const seconds of observeNewlyReady()) timeToReady.observe({}, seconds);
    },
  });
  metrics.gauge({
    name: "rollout_members",
    help: "Members of the newest fleet rollout, by outcome (all 0 before the first rollout).",
    labelNames: ["outcome"],
    collect: (gauge) => {
      const rollout = latestRolloutView(db, Date.now());
      for (const outcome of rolloutMemberOutcomes) gauge.set({ outcome }, rollout?.members[outcome] ?? 0);
    },
  });
  metrics.gauge({
    name: "rollout_status",
    help: "1 for the status of the newest fleet rollout (running, paused, halted, succeeded), 0 for the others.",
    labelNames: ["status"],
    collect: (gauge) => {
      const status = latestRolloutView(db, Date.now())?.status;
      for (const known of rolloutStatuses) gauge.set({ status: known }, known === status ? 1 : 0);
    },
  });
  metrics.gauge({
    name: "provision_runs",
    help: "Provision runs recorded in the application database, by outcome: started, succeeded, failed.",
    labelNames: ["outcome"],
    collect: (gauge) => {
      const runs = provisionRuns(db);
      gauge.set({ outcome: "started" }, runs.started);
      gauge.set({ outcome: "succeeded" }, runs.succeeded);
      gauge.set({ outcome: "failed" }, runs.failed);
    },
  });
}

/**
 * Every run of a provision ends once; a run before the current one can only have failed (only a failed
 * operation is re-run), so failed runs are the earlier runs plus the current ones that failed.
 */
function provisionRuns(db: Db): { started: number; succeeded: number; failed: number } {
  const row = db
    .select({
      started: sum(operations.run),
      succeeded: sql<number>`count(*) filter (where ${operations.status} = 'succeeded')`,
      failed: sql<number>`coalesce(sum(${operations.run} - 1), 0) + count(*) filter (where ${operations.status} = 'failed')`,
    })
    .from(operations)
    .where(eq(operations.operation, PROVISION_OPERATION))
    .get();
  return { started: Number(row?.started ?? 0), succeeded: row?.succeeded ?? 0, failed: row?.failed ?? 0 };
}

/** Returns, on each call, the request-to-ready seconds of provisions that succeeded since the last call. */
function readyTimesSince(db: Db): () => number[] {
  const newlyReady = newlyFinished((since) =>
    db
      .select({
        id: operations.id,
        createdAt: operations.createdAt,
        // Never null: the where clause compares it.
        finishedAt: sql<number>`${operations.finishedAt}`,
      })
      .from(operations)
      .where(
        and(
          eq(operations.operation, PROVISION_OPERATION),
          eq(operations.status, "succeeded"),
          gte(operations.finishedAt, since),
        ),
      )
      .all(),
  );
  return () => newlyReady().map((row) => (row.finishedAt - row.createdAt) / 1000);
}
