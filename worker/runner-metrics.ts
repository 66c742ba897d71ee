import type { MetricsRegistry } from "../core/metrics.ts";
import type { RunnerMetrics } from "./runner/deps.ts";

/** Step durations span milliseconds (skips, db writes) to many minutes (server boot, cloud-init). */
const stepDurationBucketsSeconds = [0.01, 0.05, 0.1, 0.5, 1, 5, 15, 30, 60, 120, 300, 600];

/** Registers the worker's job and step metrics on the process registry and reports runner events into them. */
export function createRunnerMetrics(registry: MetricsRegistry): RunnerMetrics {
  const jobOutcomes = registry.counter({
    name: "job_outcomes_total",
    help: "Deliveries of operation jobs handled by this worker, by operation and outcome.",
    labelNames: ["operation", "outcome"],
  });
  const stepDuration = registry.histogram({
    name: "step_duration_seconds",
    help: "Duration of step attempts and compensations, by step and outcome.",
    labelNames: ["step", "outcome"],
    buckets: stepDurationBucketsSeconds,
  });
  return {
    stepFinished: (step, outcome, durationMs) => stepDuration.observe({ step, outcome }, durationMs / 1000),
    jobFinished: (operation, outcome) => jobOutcomes.inc({ operation, outcome }),
  };
}
