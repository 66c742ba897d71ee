import { and, count, eq, gte, sql, sum } from "drizzle-orm";
import type { MetricsRegistry } from "../core/metrics.ts";
import type { Db } from "../db/index.ts";
import { instances, operations } from "../db/schema.ts";
import { INSTANCE_STATES } from "../jobs/ops/instances.ts";
import { PROVISION_OPERATION } from "../jobs/requests.ts";

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
      for (const seconds of observeNewlyReady()) timeToReady.observe({}, seconds);
    },
  });
  // Registered after the gauge whose collect feeds it, so a scrape renders what that collect just observed.
  const timeToReady = metrics.histogram({
    name: "provision_time_to_ready_seconds",
    help: "From the provision request to the instance ready, over every succeeded provision (re-runs included).",
    buckets: timeToReadyBucketsSeconds,
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

/**
 * How far before the newest finish seen a finish may still appear: another process computes finishedAt before
 * its transaction commits, so a slightly older finish can become visible after a newer one. In ms.
 */
const LATE_COMMIT_SLACK_MS = 60_000;

/** Returns, on each call, the request-to-ready seconds of provisions that succeeded since the last call. */
function readyTimesSince(db: Db): () => number[] {
  let newestFinish = 0;
  /** Finish time by operation id of what was observed within the slack window: never observed twice. */
  const observed = new Map<string, number>();
  return () => {
    const since = newestFinish - LATE_COMMIT_SLACK_MS;
    const rows = db
      .select({ id: operations.id, createdAt: operations.createdAt, finishedAt: operations.finishedAt })
      .from(operations)
      .where(
        and(
          eq(operations.operation, PROVISION_OPERATION),
          eq(operations.status, "succeeded"),
          gte(operations.finishedAt, since),
        ),
      )
      .all();
    const fresh = rows.filter((row) => !observed.has(row.id));
    for (const row of fresh) {
      const finishedAt = row.finishedAt ?? row.createdAt;
      observed.set(row.id, finishedAt);
      newestFinish = Math.max(newestFinish, finishedAt);
    }
    for (const [id, finishedAt] of observed) {
      if (finishedAt < newestFinish - LATE_COMMIT_SLACK_MS) observed.delete(id);
    }
    return fresh.map((row) => ((row.finishedAt ?? row.createdAt) - row.createdAt) / 1000);
  };
}
