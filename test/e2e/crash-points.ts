/**
 * The crash points of the worker (core/crash-point.ts), listed from the production job definitions
 * themselves, so a step added to a job brings its points into the suite without an edit here. CI runs
 * every provision boundary and one point inside each other job; CRASH_POINTS=all runs every point.
 */
import type { JobDefinition } from "../../jobs/step.ts";

/** Where in a step the worker dies: before it runs, after its work but before the record, after the record. */
export const STEP_PHASES = ["start", "ran", "done"] as const;
/** The sweep's phases: claimed, decisions made, decisions applied (record not yet written). */
export const SWEEP_POINTS = ["sweep.claimed", "sweep.decided", "sweep.applied"] as const;

export interface CrashPoint {
  /** The job whose run the kill interrupts: an operation name, or "sweep". */
  job: string;
  /** The CRASH_AT value. */
  point: string;
}

/** Every crash point: each phase of each step of each job (its inner points too), then the sweep's. */
export function allCrashPoints(jobs: readonly JobDefinition[]): CrashPoint[] {
  const steps = jobs.flatMap((job) =>
    job.steps.flatMap((step) =>
      [...STEP_PHASES, ...(step.crashPoints ?? []), ...(step.compensate ? ["undone"] : [])].map((phase) => ({
        job: job.name,
        point: `${job.name}.${step.name}.${phase}`,
      })),
    ),
  );
  return [...steps, ...SWEEP_POINTS.map((point) => ({ job: "sweep", point }))];
}

/**
 * CI's selection: every boundary of `fullJob` (before each step, and after its last) and its steps' inner
 * points, plus, for every other job, the point inside its middle step (its work done, not yet recorded).
 */
export function ciCrashPoints(jobs: readonly JobDefinition[], fullJob: string): CrashPoint[] {
  const points: CrashPoint[] = [];
  for (const job of jobs) {
    if (job.name === fullJob) {
      points.push(...job.steps.map((step) => ({ job: job.name, point: `${job.name}.${step.name}.start` })));
      for (const step of job.steps) {
        for (const inner of step.crashPoints ?? []) {
          points.push({ job: job.name, point: `${job.name}.${step.name}.${inner}` });
        }
      }
      // One rollback: the first step's undo, reached by a failure at the step after it.
      const undoable = job.steps.find((step) => step.compensate);
      if (undoable) points.push({ job: job.name, point: `${job.name}.${undoable.name}.undone` });
      const last = job.steps.at(-1);
      if (last) points.push({ job: job.name, point: `${job.name}.${last.name}.done` });
      continue;
    }
    const middle = job.steps[Math.floor(job.steps.length / 2)];
    if (middle) points.push({ job: job.name, point: `${job.name}.${middle.name}.ran` });
  }
  points.push({ job: "sweep", point: "sweep.decided" });
  return points;
}
