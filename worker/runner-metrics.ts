import type { MetricsRegistry } from "../core/metrics.ts";
import type { RunnerMetrics } from "./runner/deps.ts";

/**
 * Registers the worker's job metrics on the process registry and reports runner events into them. Step
 * durations are not here: the API exports them once, as step_run_duration_seconds, from step_runs.
 */
export function createRunnerMetrics(registry: MetricsRegistry): RunnerMetrics {
  const jobOutcomes = registry.counter({
    name: "job_outcomes_total",
    help: "Deliveries of operation jobs handled by this worker, by operation and outcome.",
    labelNames: ["operation", "outcome"],
  });
  return {
    jobFinished: (operation, outcome) => jobOutcomes.inc({ operation, outcome }),
  };
}
