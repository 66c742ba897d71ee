/** Operations left unfinished with no broker job to carry them on: resumed, or failed when resuming makes no sense. */
import { PROVISION_OPERATION } from "../provision/operation.ts";
import { type Fleet, hasActiveOperation } from "./fleet.ts";
import type { Decision, ObservedInstance, ObservedOperation, SweepPolicy } from "./types.ts";

const MS_PER_MINUTE = 60_000;

/** Why resuming would be wrong, or null when the operation should be resumed. */
function abandonReason(fleet: Fleet, instance: ObservedInstance, op: ObservedOperation): string | null {
  if (instance.status === "deprovisioned") return `instance ${instance.id} is already deprovisioned`;
  if (op.operation === PROVISION_OPERATION && fleet.paymentOf(instance.customerId) === "cancelled") {
    return `customer ${instance.customerId} cancelled, so a new server would be paid by nobody`;
  }
  return null;
}

function stuckSummary(op: ObservedOperation, now: number): string {
  const minutes = Math.floor((now - op.updatedAt) / MS_PER_MINUTE);
  const wait =
    op.waitDeadline !== null && op.waitDeadline <= now
      ? `, its wait deadline passed ${Math.floor((now - op.waitDeadline) / MS_PER_MINUTE)} min ago`
      : "";
  return `${op.operation} ${op.id} is ${op.status} with no broker job, untouched for ${minutes} min${wait}`;
}

export function stuckDecisions(fleet: Fleet, now: number, policy: SweepPolicy): Decision[] {
  const hold = fleet.state.restoreHold;
  const decisions: Decision[] = [];
  for (const instance of fleet.state.instances) {
    const op = instance.operation;
    if (op === null || !hasActiveOperation(instance) || fleet.state.liveJobIds.has(op.id)) continue;
    // Enqueueing records the operation before adding its job: a young operation may simply be in between.
    // One last touched before a restore has no add in flight: its job is missing from the queue snapshot.
    const restoredBefore = hold != null && op.updatedAt < hold.restoredAt;
    if (!restoredBefore && now - op.updatedAt < policy.stuckAfterMs) continue;
    const stuck = stuckSummary(op, now);
    const abandon = abandonReason(fleet, instance, op);
    decisions.push(
      abandon === null
        ? {
            kind: "resume-operation",
            operationId: op.id,
            instanceId: instance.id,
            reason: `${stuck}; resuming it`,
          }
        : {
            kind: "fail-operation",
            operationId: op.id,
            instanceId: instance.id,
            reason: `${stuck}; failing it: ${abandon}`,
          },
    );
  }
  return decisions;
}
