/**
 * Whether a customer's stored secrets still have to reach their running server, and the enqueueing of the
 * reconfigure that delivers them. PUT /v1/customers/{id} calls it after storing the secrets (also when they
 * did not change: a change whose reconfigure could not be enqueued is still owed).
 *
 * "Delivered" is the START of the newest inject-secrets attempt on the instance that succeeded or is still
 * running: the step reads the secrets as it starts, so a write after that start may have missed it (by its
 * finish time, a write landing mid-injection would count as delivered). Erring this way costs at most one
 * extra, idempotent reconfigure.
 */
import { and, desc, eq, inArray, max, sql } from "drizzle-orm";
import type { Db, DbSession } from "../../db/index.ts";
import { customers, instances, operations, stepRuns } from "../../db/schema.ts";
import { activeOperationStatuses } from "../../domain/operations.ts";
import type { JobQueue } from "../../queue/queue.ts";
import { DEPROVISION_OPERATION } from "../deprovision/operation.ts";
import { JobError } from "../errors.ts";
import { PROVISION_OPERATION } from "../provision/operation.ts";
import { UPGRADE_OPERATION } from "../upgrade/request.ts";

export const RECONFIGURE_OPERATION = "reconfigure";

/** The step (shared by provision and reconfigure) that writes the secrets onto the server. */
const DELIVERY_STEP = "inject-secrets";

export type ReconfigureDecision =
  /** The server has the stored secrets, is about to read them, or there is no running server to update. */
  | { kind: "none" }
  /** A reconfigure will deliver them: just enqueued, or an already queued one that reads them when it starts. */
  | { kind: "enqueued"; instanceId: string; operationId: string; created: boolean }
  /**
   * An operation on the instance already read the previous secrets and is still running; a reconfigure can
   * only follow it. The caller asks again once it has ended (the same request then enqueues one).
   */
  | { kind: "busy"; instanceId: string; operationId: string };

/** The broker did not take the job; the secrets stay stored and the operation recorded, so asking again repairs it. */
export class ReconfigureEnqueueError extends JobError {
  constructor(instanceId: string, cause: unknown) {
    super("queue_unavailable", `the reconfigure of instance ${instanceId} could not be enqueued`, { cause });
  }
}

interface NewestOperation {
  id: string;
  operation: string;
  status: (typeof operations.$inferSelect)["status"];
}

type Plan = ReconfigureDecision | { kind: "enqueue"; instanceId: string };

/**
 * Decides and, when needed, enqueues (or joins) the reconfigure of the customer's newest instance. Throws
 * ReconfigureEnqueueError when the broker does not answer.
 */
export async function requestReconfigure(
  deps: { db: Db; queue: JobQueue },
  customerId: string,
): Promise<ReconfigureDecision> {
  const plan = deps.db.transaction((tx) => planReconfigure(tx, customerId));
  if (plan.kind !== "enqueue") return plan;
  const { jobId, created } = await deps.queue
    .enqueue(RECONFIGURE_OPERATION, plan.instanceId)
    .catch((err: unknown) => {
      throw new ReconfigureEnqueueError(plan.instanceId, err);
    });
  return { kind: "enqueued", instanceId: plan.instanceId, operationId: jobId, created };
}

/** One consistent read of the customer, their newest instance, its newest operation and its deliveries. */
function planReconfigure(db: DbSession, customerId: string): Plan {
  const storedAt = db
    .select({ updatedAt: customers.updatedAt })
    .from(customers)
    .where(eq(customers.id, customerId))
    .get()?.updatedAt;
  const instance = db
    .select({ id: instances.id, status: instances.status })
    .from(instances)
    .where(eq(instances.customerId, customerId))
    .orderBy(desc(instances.createdAt), desc(instances.id))
    .get();
  if (storedAt === undefined || instance === undefined) return { kind: "none" };
  const op = newestOperation(db, instance.id);
  if (op === undefined || !hasServerToUpdate(instance.status, op)) return { kind: "none" };
  const deliveredAt = lastDeliveryStart(db, instance.id);
  // Both times are taken inside IMMEDIATE transactions, so a later start saw the write; the same ms is not enough.
  if (deliveredAt !== null && deliveredAt > storedAt) return { kind: "none" };
  if (!activeOperationStatuses.includes(op.status)) return { kind: "enqueue", instanceId: instance.id };
  if (hasStartedDelivery(db, op)) return { kind: "busy", instanceId: instance.id, operationId: op.id };
  // A provision that has not injected yet reads the new secrets itself; a queued reconfigure is joined, and
  // one after an upgrade in flight waits for the instance's lease.
  return op.operation === PROVISION_OPERATION
    ? { kind: "none" }
    : { kind: "enqueue", instanceId: instance.id };
}

/**
 * A server that runs (or is being given) the customer's secrets: ready, provisioning, being reconfigured or upgraded,
 * or degraded by a failed reconfigure (the server is still there; new secrets may be the fix). Never one a
 * deprovision was asked for, one whose provision failed (rolled back), or a lost one.
 */
function hasServerToUpdate(status: string, op: NewestOperation): boolean {
  if (op.operation === DEPROVISION_OPERATION) return false;
  if (activeOperationStatuses.includes(op.status)) {
    return [PROVISION_OPERATION, RECONFIGURE_OPERATION, UPGRADE_OPERATION].includes(op.operation);
  }
  return status === "ready" || status === "degraded";
}

function newestOperation(db: DbSession, instanceId: string): NewestOperation | undefined {
  return db
    .select({
      id: operations.id,
      operation: operations.operation,
      status: operations.status,
    })
    .from(operations)
    .where(eq(operations.instanceId, instanceId))
    .orderBy(desc(operations.createdAt), desc(sql`rowid`))
    .get();
}

/** Start of the newest delivery attempt that succeeded or is under way, epoch ms; null when there was none. */
function lastDeliveryStart(db: DbSession, instanceId: string): number | null {
  return (
    db
      .select({ startedAt: max(stepRuns.startedAt) })
      .from(stepRuns)
      .where(
        and(
          // Through the instance's operations, so the lookup uses step_runs' (operation, step) index.
          inArray(
            stepRuns.operationId,
            db.select({ id: operations.id }).from(operations).where(eq(operations.instanceId, instanceId)),
          ),
          eq(stepRuns.step, DELIVERY_STEP),
          eq(stepRuns.kind, "run"),
          inArray(stepRuns.status, ["succeeded", "running"]),
        ),
      )
      .get()?.startedAt ?? null
  );
}

/**
 * True once the operation has read secrets: an attempt of its delivery step succeeded (in any run: a re-run
 * from a later failed step does not deliver again) or is under way.
 */
function hasStartedDelivery(db: DbSession, op: NewestOperation): boolean {
  const row = db
    .select({ id: stepRuns.id })
    .from(stepRuns)
    .where(
      and(
        eq(stepRuns.operationId, op.id),
        eq(stepRuns.step, DELIVERY_STEP),
        eq(stepRuns.kind, "run"),
        inArray(stepRuns.status, ["succeeded", "running"]),
      ),
    )
    .get();
  return row !== undefined;
}
