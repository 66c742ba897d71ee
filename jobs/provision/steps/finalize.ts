/**
 * Step finalize: the instance is ready (the runner sets the status when this last step succeeds); the
 * time each earlier phase took, read from step_runs, is recorded as this step's output and logged.
 * Idempotent: it only reads.
 */
import { z } from "zod";
import { type PhaseTiming, summarizeOperation } from "../../../domain/operation-progress.ts";
import { type Step, stepRef } from "../../step.ts";
import type { ProvisionDeps } from "./deps.ts";

const phaseTiming: z.ZodType<PhaseTiming> = z.object({
  step: z.string(),
  attempts: z.number().int(),
  durationMs: z.number(),
});

export const finalizeRef = stepRef(
  "finalize",
  z.object({
    /** Each step before this one, in execution order, from its run's first start to last finish. */
    phases: z.array(phaseTiming),
  }),
);
export type FinalizeOutput = z.infer<typeof finalizeRef.output>;

export function finalizeStep(deps: ProvisionDeps): Step<FinalizeOutput> {
  return {
    ...finalizeRef,
    retry: { attempts: 3, initialDelayMs: 200, maxDelayMs: 2_000 },
    timeoutMs: 10_000,
    async run(ctx) {
      const phases = summarizeOperation(deps.db, ctx.jobId).phases.filter((p) => p.step !== "finalize");
      ctx.log.info({ phases }, "instance ready");
      return { phases };
    },
  };
}
