import { and, eq, gte, isNotNull, sql } from "drizzle-orm";
import type { MetricsRegistry } from "../core/metrics.ts";
import type { Db } from "../db/index.ts";
import { operations, stepRuns } from "../db/schema.ts";
import { newlyFinished } from "./newly-finished.ts";

/** Step attempts span milliseconds (skips, db writes) to about ten minutes (server boot, cloud-init), in seconds. */
const stepRunBucketsSeconds = [0.005, 0.025, 0.1, 0.25, 0.5, 1, 2.5, 5, 15, 30, 60, 120, 300, 600];

/**
 * Step durations as the shared database knows them: every finished attempt and compensation in step_runs is
 * observed once by each API process, the first scrape catching up. The one source of step durations: it
 * survives worker restarts and sees every worker, where a worker's own histogram would lose its counts when
 * it restarts and need summing across workers.
 */
export function registerStepRunMetrics(metrics: MetricsRegistry, db: Db): void {
  const finishedStepRunsSinceLast = stepRunsSince(db);
  metrics.histogram({
    name: "step_run_duration_seconds",
    help: "Duration of every finished step attempt and compensation recorded in the application database.",
    labelNames: ["operation", "step", "kind", "outcome"],
    buckets: stepRunBucketsSeconds,
    collect: (duration) => {
      for (const row of finishedStepRunsSinceLast()) {
        const labels = { operation: row.operation, step: row.step, kind: row.kind, outcome: row.status };
        duration.observe(labels, row.durationMs / 1000);
      }
    },
  });
}

/**
 * Returns, on each call, the step runs that finished since the last call. finished_at is set exactly when a
 * row ends for good (succeeded, failed, interrupted; a waiting row has none, see step-store.ts); a row the
 * runner found abandoned has no duration, since its worker died mid-step, so it is not observed.
 */
function stepRunsSince(db: Db) {
  return newlyFinished((since) =>
    db
      .select({
        id: stepRuns.id,
        operation: operations.operation,
        step: stepRuns.step,
        kind: stepRuns.kind,
        status: stepRuns.status,
        // Never null: the where clause compares them.
        finishedAt: sql<number>`${stepRuns.finishedAt}`,
        durationMs: sql<number>`${stepRuns.durationMs}`,
      })
      .from(stepRuns)
      .innerJoin(operations, eq(operations.id, stepRuns.operationId))
      .where(and(gte(stepRuns.finishedAt, since), isNotNull(stepRuns.durationMs)))
      .all(),
  );
}
