/**
 * Step finalize: the instance is ready (the runner sets the status when this last step succeeds); the
 * time each earlier phase took, read from step_runs, is recorded as this step's output and logged.
 * Idempotent: it only reads.
 */
import { type PhaseTiming, summarizeOperation } from "../../../domain/operation-progress.ts";
import type { Step } from "../../step.ts";
import type { ProvisionDeps } from "./deps.ts";

export interface FinalizeOutput {
  /** Each step before this one, in execution order, from its run's first start to last finish. */
  phases: PhaseTiming[];
}

export function finalizeStep(deps: ProvisionDeps): Step<FinalizeOutput> {
  return {
    name: "finalize",
    retry: { attempts: 3, initialDelayMs: 200, maxDelayMs: 2_000 },
    timeoutMs: 10_000,
    async run(ctx) {
      const phases = summarizeOperation(deps.db, ctx.jobId).phases.filter((p) => p.step !== "finalize");
      ctx.log.info({ phases }, "instance ready");
      return { phases };
    },
  };
}
