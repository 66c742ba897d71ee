/** The sweep's metrics on the worker's registry: sweeps by outcome, decisions by kind and outcome, duration, last sweep. */
import type { MetricsRegistry } from "../../core/metrics.ts";
import type { DecisionOutcome } from "./sweep-store.ts";
import type { DecisionKind } from "./types.ts";

/** How a sweep ended: `skipped` when another was running. */
export type SweepOutcome = "succeeded" | "failed" | "skipped";

export interface SweepMetrics {
  sweepFinished(outcome: SweepOutcome, durationMs: number, finishedAtMs: number): void;
  decisionRecorded(kind: DecisionKind, outcome: DecisionOutcome): void;
}

/** A sweep lists a few pages and applies a few actions: well under a second, up to minutes when paced by the rate limit. */
const sweepDurationBucketsSeconds = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

/** Registers the sweep metrics once per registry (one sweeper per worker process). */
export function createSweepMetrics(registry: MetricsRegistry): SweepMetrics {
  const sweeps = registry.counter({
    name: "reconcile_sweeps_total",
    help: "Reconcile sweeps this worker ran, by outcome (succeeded, failed, skipped).",
    labelNames: ["outcome"],
  });
  const decisions = registry.counter({
    name: "reconcile_decisions_total",
    help: "Reconcile decisions, by kind and outcome (planned in a dry run, held after a restore, applied, failed).",
    labelNames: ["kind", "outcome"],
  });
  const duration = registry.histogram({
    name: "reconcile_sweep_duration_seconds",
    help: "Duration of reconcile sweeps that ran (claimed to finished).",
    buckets: sweepDurationBucketsSeconds,
  });
  const lastSweep = registry.gauge({
    name: "reconcile_last_sweep_timestamp_seconds",
    help: "Unix time at which this worker's last reconcile sweep finished.",
  });
  return {
    sweepFinished(outcome, durationMs, finishedAtMs) {
      sweeps.inc({ outcome });
      if (outcome === "skipped") return;
      duration.observe({}, durationMs / 1000);
      lastSweep.set({}, finishedAtMs / 1000);
    },
    decisionRecorded: (kind, outcome) => decisions.inc({ kind, outcome }),
  };
}
