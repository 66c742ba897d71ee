/**
 * Applies the sweep's decisions: at most one Hetzner request per corrective action, everything else through
 * the database and the broker. Each database correction is conditional on the state the sweep observed, so
 * a decision that the world overtook meanwhile changes nothing and says so.
 */
import { and, eq, inArray, isNull } from "drizzle-orm";
import type { Db } from "../../db/index.ts";
import { instances, operations } from "../../db/schema.ts";
import { activeOperationStatuses } from "../../domain/operations.ts";
import type { Requests } from "../../domain/requests.ts";
import type { ServersApi } from "../../hetzner/index.ts";
import type { JobQueue } from "../../queue/queue.ts";
import { DEPROVISION_OPERATION } from "../deprovision/operation.ts";
import type { RecordedDecision } from "./sweep-store.ts";
import { type Decision, LOST_STATUS, SERVING_STATUSES } from "./types.ts";

export interface ExecuteDeps {
  db: Db;
  hetzner: { servers: Pick<ServersApi, "delete"> };
  queue: Pick<JobQueue, "enqueue" | "retry">;
  requests: Pick<Requests, "requestProvision">;
  /** Clock, in epoch ms. */
  now: () => number;
  /** Aborts a Hetzner request in flight (the sweep's deadline). */
  signal?: AbortSignal;
}

/** `error_code` the sweep writes on instances and operations it corrects. */
const SERVER_GONE_CODE = "server_gone";
const ABANDONED_OPERATION_CODE = "abandoned";

/** The decision no longer fits: what it would correct changed after the sweep observed it. */
class StaleDecisionError extends Error {
  override readonly name = "StaleDecisionError";
}

function markInstanceLost(deps: ExecuteDeps, instanceId: string, reason: string): void {
  const marked = deps.db
    .update(instances)
    .set({
      status: LOST_STATUS,
      errorStep: null,
      errorCode: SERVER_GONE_CODE,
      errorMessage: reason,
      updatedAt: deps.now(),
    })
    .where(and(eq(instances.id, instanceId), inArray(instances.status, [...SERVING_STATUSES])))
    .returning({ id: instances.id })
    .all();
  if (marked.length === 0)
    throw new StaleDecisionError(`instance ${instanceId} is no longer ready or degraded; left as it is`);
}

/** Points the instance at the server it was moved to after the restored snapshot, if it still has the one observed. */
function adoptServer(deps: ExecuteDeps, decision: Extract<Decision, { kind: "adopt-server" }>): void {
  const saved = instances.hetznerServerId;
  const adopted = deps.db
    .update(instances)
    .set({ hetznerServerId: decision.serverId, updatedAt: deps.now() })
    .where(
      and(
        eq(instances.id, decision.instanceId),
        decision.previousServerId === null ? isNull(saved) : eq(saved, decision.previousServerId),
      ),
    )
    .returning({ id: instances.id })
    .all();
  if (adopted.length === 0) {
    throw new StaleDecisionError(`instance ${decision.instanceId} changed server meanwhile; left as it is`);
  }
}

/** Fails the operation and, unless already deprovisioned, its instance, naming the step it was stuck in. */
function failOperation(deps: ExecuteDeps, operationId: string, instanceId: string, reason: string): void {
  const now = deps.now();
  deps.db.transaction(
    (tx) => {
      const instance = tx
        .select({ status: instances.status, step: instances.currentStep })
        .from(instances)
        .where(eq(instances.id, instanceId))
        .get();
      const failure = {
        errorStep: instance?.step ?? null,
        errorCode: ABANDONED_OPERATION_CODE,
        errorMessage: reason,
      };
      const failed = tx
        .update(operations)
        .set({
          ...failure,
          status: "failed",
          waitSignal: null,
          waitDeadline: null,
          finishedAt: now,
          updatedAt: now,
        })
        .where(and(eq(operations.id, operationId), inArray(operations.status, [...activeOperationStatuses])))
        .returning({ id: operations.id })
        .all();
      if (failed.length === 0) throw new StaleDecisionError(`operation ${operationId} already finished`);
      if (instance === undefined || instance.status === "deprovisioned") return;
      tx.update(instances)
        .set({ ...failure, status: "failed", updatedAt: now })
        .where(eq(instances.id, instanceId))
        .run();
    },
    { behavior: "immediate" },
  );
}

/** Re-adds the operation's job under its own id, so the runner resumes it from its unfinished step. */
async function resumeOperation(deps: ExecuteDeps, operationId: string): Promise<void> {
  const op = deps.db
    .select({ operation: operations.operation, instanceId: operations.instanceId, status: operations.status })
    .from(operations)
    .where(eq(operations.id, operationId))
    .get();
  // Checked first: retry() would start another run of an operation that failed meanwhile.
  if (!op || !activeOperationStatuses.includes(op.status)) {
    throw new StaleDecisionError(
      `operation ${operationId} is no longer unfinished (${op?.status ?? "unknown"})`,
    );
  }
  const { jobId } = await deps.queue.retry(op.instanceId, op.operation);
  if (jobId !== operationId)
    throw new StaleDecisionError(`a newer ${op.operation} (${jobId}) was resumed instead`);
}

/** Carries out one decision; throws when it could not be applied. */
async function applyDecision(deps: ExecuteDeps, decision: Decision): Promise<void> {
  switch (decision.kind) {
    case "adopt-server":
      return adoptServer(deps, decision);
    case "delete-zombie-server":
      // Already gone (null) is as good as deleted.
      await deps.hetzner.servers.delete(decision.serverId, { signal: deps.signal });
      return;
    case "report-protected-server":
      // The recorded decision and its warning are the report; nothing is changed.
      return;
    case "mark-instance-lost":
      return markInstanceLost(deps, decision.instanceId, decision.reason);
    case "fail-operation":
      return failOperation(deps, decision.operationId, decision.instanceId, decision.reason);
    case "resume-operation":
      return resumeOperation(deps, decision.operationId);
    case "enqueue-provision":
      await deps.requests.requestProvision(decision.customerId);
      return;
    case "enqueue-deprovision":
      await deps.queue.enqueue(DEPROVISION_OPERATION, decision.instanceId);
      return;
  }
}

/**
 * Applies every decision in order; one that fails is recorded `failed` with its error and never stops the
 * rest. `onRecorded` sees each outcome as it happens (logs, metrics).
 */
export async function applyDecisions(
  deps: ExecuteDeps,
  decisions: readonly Decision[],
  onRecorded: (recorded: RecordedDecision, err: unknown) => void,
): Promise<RecordedDecision[]> {
  const recorded: RecordedDecision[] = [];
  for (const decision of decisions) {
    let entry: RecordedDecision;
    let failure: unknown = null;
    try {
      deps.signal?.throwIfAborted();
      await applyDecision(deps, decision);
      entry = { ...decision, outcome: "applied" };
    } catch (err) {
      failure = err;
      entry = { ...decision, outcome: "failed", error: err instanceof Error ? err.message : String(err) };
    }
    recorded.push(entry);
    onRecorded(entry, failure);
  }
  return recorded;
}
