/**
 * Step finalize: the instance is ready (the runner sets the status when this last step succeeds); the
 * time each phase took, read from step_runs, is recorded as this step's output and logged.
 * Idempotent: it only reads.
 */
import { and, eq } from "drizzle-orm";
import { operations, stepRuns } from "../../../db/schema.ts";
import type { Step } from "../../step.ts";
import type { ProvisionDeps } from "./deps.ts";

export interface PhaseTiming {
  step: string;
  /** From the first start to the last finish of the step's successful run, parks included, in ms. */
  durationMs: number;
}

export interface FinalizeOutput {
  phases: PhaseTiming[];
  /** From the provision request to now, in ms. */
  totalMs: number;
}

export function finalizeStep(deps: ProvisionDeps): Step<FinalizeOutput> {
  const now = deps.now ?? Date.now;
  return {
    name: "finalize",
    retry: { attempts: 3, initialDelayMs: 200, maxDelayMs: 2_000 },
    timeoutMs: 10_000,
    async run(ctx) {
      const timings = phaseTimings(deps, ctx.jobId, now());
      ctx.log.info(timings, "instance ready");
      return timings;
    },
  };
}

function phaseTimings(deps: ProvisionDeps, operationId: string, now: number): FinalizeOutput {
  const rows = deps.db
    .select({
      step: stepRuns.step,
      run: stepRuns.run,
      status: stepRuns.status,
      startedAt: stepRuns.startedAt,
      finishedAt: stepRuns.finishedAt,
    })
    .from(stepRuns)
    .where(and(eq(stepRuns.operationId, operationId), eq(stepRuns.kind, "run")))
    .orderBy(stepRuns.id)
    .all();
  const phases = new Map<string, { startedAt: number; finishedAt: number }>();
  for (const row of rows) {
    if (row.status !== "succeeded" || row.finishedAt === null) continue;
    // Only the attempts of the run in which the step last succeeded count; earlier runs were undone.
    const attempts = rows.filter((r) => r.step === row.step && r.run === row.run);
    const startedAt = Math.min(...attempts.map((r) => r.startedAt));
    phases.set(row.step, { startedAt, finishedAt: row.finishedAt });
  }
  const requestedAt =
    deps.db
      .select({ createdAt: operations.createdAt })
      .from(operations)
      .where(eq(operations.id, operationId))
      .get()?.createdAt ?? now;
  return {
    phases: [...phases].map(([step, p]) => ({ step, durationMs: p.finishedAt - p.startedAt })),
    totalMs: now - requestedAt,
  };
}
