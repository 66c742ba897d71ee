/**
 * The reconcile sweep's decision function: pure (no I/O, no clock), so a dry run, the executor and the tests
 * all see the same decisions for the same observed state.
 */

import { adoptionDecisions, withAdoptions } from "./adoption.ts";
import { indexFleet } from "./fleet.ts";
import { stuckDecisions } from "./operations.ts";
import { paymentDecisions } from "./payments.ts";
import { lostDecisions, zombieDecisions } from "./servers.ts";
import type { Decision, DecisionKind, SweepPolicy, SweepState } from "./types.ts";

/** Order decisions are applied in: clean up what is wrong before starting anything new. */
const KIND_ORDER: readonly DecisionKind[] = [
  "adopt-server",
  "delete-zombie-server",
  "report-protected-server",
  "mark-instance-lost",
  "fail-operation",
  "resume-operation",
  "enqueue-deprovision",
  "enqueue-provision",
];

/** The one key that orders decisions of the same kind. */
function subjectOf(decision: Decision): string | number {
  switch (decision.kind) {
    case "adopt-server":
      return decision.instanceId;
    case "delete-zombie-server":
    case "report-protected-server":
      return decision.serverId;
    case "mark-instance-lost":
      return decision.instanceId;
    case "fail-operation":
    case "resume-operation":
      return decision.operationId;
    case "enqueue-deprovision":
      return `${decision.customerId}\u0000${decision.instanceId}`;
    case "enqueue-provision":
      return decision.customerId;
  }
}

function compareDecisions(a: Decision, b: Decision): number {
  const byKind = KIND_ORDER.indexOf(a.kind) - KIND_ORDER.indexOf(b.kind);
  if (byKind !== 0) return byKind;
  const [x, y] = [subjectOf(a), subjectOf(b)];
  if (x === y) return 0;
  return x < y ? -1 : 1;
}

/**
 * Decides what one sweep should correct in the observed state at `now` (epoch ms). Deterministic: sorted by
 * kind, then subject. Idempotent: once the decisions are applied, the same causes yield nothing.
 */
export function tick(state: SweepState, now: number, policy: SweepPolicy): Decision[] {
  // After a restore, servers made since the snapshot are adopted first, so no rule below sees them as drift.
  const adoptions = state.restoreHold ? adoptionDecisions(indexFleet(state)) : [];
  const fleet = indexFleet(withAdoptions(state, adoptions));
  return [
    ...adoptions,
    ...zombieDecisions(fleet, now, policy),
    ...lostDecisions(fleet, policy),
    ...stuckDecisions(fleet, now, policy),
    ...paymentDecisions(fleet),
  ].sort(compareDecisions);
}
