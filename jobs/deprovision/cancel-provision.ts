/**
 * Step cancel-provision: a provision, reconfigure or upgrade of this instance that is queued or parked (e.g. waiting
 * for its callback) is ended as cancelled, so nothing can create a server or reach for the shredded secrets
 * after the teardown. One that is running steps holds the instance lease, so this step only runs once it has
 * parked or finished. Their open step rows (the parked wait, or an attempt whose worker died) are closed as
 * interrupted with them. Idempotent: only active operations are touched.
 */
import { and, eq, inArray } from "drizzle-orm";
import { z } from "zod";
import type { DbSession } from "../../db/index.ts";
import { operations, stepRuns } from "../../db/schema.ts";
import { activeOperationStatuses } from "../../domain/operations.ts";
import { PROVISION_OPERATION } from "../provision/operation.ts";
import { RECONFIGURE_OPERATION } from "../reconfigure/request.ts";
import { type Step, stepRef } from "../step.ts";
import { UPGRADE_OPERATION } from "../upgrade/request.ts";
import type { DeprovisionDeps } from "./deps.ts";

export const cancelProvisionRef = stepRef(
  "cancel-provision",
  z.object({
    /** Ids of the provision, reconfigure and upgrade operations cancelled (empty when none was in flight). */
    cancelled: z.array(z.string()),
  }),
);
export type CancelProvisionOutput = z.infer<typeof cancelProvisionRef.output>;

export function cancelProvisionStep(deps: DeprovisionDeps): Step<CancelProvisionOutput> {
  const now = deps.now ?? Date.now;
  return {
    ...cancelProvisionRef,
    retry: { attempts: 3, initialDelayMs: 200, maxDelayMs: 2_000 },
    timeoutMs: 10_000,
    async run(ctx) {
      const active = and(
        eq(operations.instanceId, ctx.instanceId),
        inArray(operations.operation, [PROVISION_OPERATION, RECONFIGURE_OPERATION, UPGRADE_OPERATION]),
        inArray(operations.status, [...activeOperationStatuses]),
      );
      const cancelled = deps.db.transaction((tx) => {
        const ids = tx
          .update(operations)
          .set({
            status: "failed",
            errorStep: "cancel-provision",
            errorCode: "cancelled",
            errorMessage: `cancelled by deprovision ${ctx.jobId}`,
            waitSignal: null,
            waitDeadline: null,
            finishedAt: now(),
            updatedAt: now(),
          })
          .where(active)
          .returning({ id: operations.id })
          .all()
          .map((row) => row.id);
        if (ids.length > 0) closeOpenSteps(tx, ids, ctx.jobId, now());
        return ids;
      });
      if (cancelled.length > 0) ctx.log.info({ cancelled }, "in-flight operations cancelled");
      return { cancelled };
    },
  };
}

/** An operation that ended leaves no step waiting or running: its open rows end as interrupted. */
function closeOpenSteps(tx: DbSession, operationIds: string[], jobId: string, now: number): void {
  tx.update(stepRuns)
    .set({
      status: "interrupted",
      finishedAt: now,
      errorCode: "cancelled",
      errorMessage: `operation cancelled by deprovision ${jobId}`,
    })
    .where(and(inArray(stepRuns.operationId, operationIds), inArray(stepRuns.status, ["waiting", "running"])))
    .run();
}
