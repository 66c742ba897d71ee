/**
 * The rollout's decision: a pure function of the rollout and its members as last observed, returning what to
 * do now (jobs/rollout/deliver.ts observes and acts). The canary goes first; the bundle is promoted only
 * once every canary member has ended within the failure limit; then batch after batch, each starting when
 * the one before has ended. One failure past the limit halts it: nothing more starts, and failed members
 * their own upgrade left degraded are upgraded back to the bundle they ran.
 */
import type { RolloutMemberOutcome, RolloutStatus } from "../../db/schema.ts";

export interface PlannedRollout {
  status: RolloutStatus;
  canary: number;
  batchSize: number;
  maxFailures: number;
  promoted: boolean;
}

export interface PlannedMember {
  instanceId: string;
  position: number;
  outcome: RolloutMemberOutcome;
  /** A failed member whose server is not known to run its old bundle again (its upgrade left it degraded). */
  needsRollback: boolean;
  rollback: "none" | "running" | "ended";
}

export type RolloutAction =
  | { kind: "start"; instanceId: string }
  | { kind: "promote" }
  | { kind: "halt"; reason: string }
  | { kind: "rollBack"; instanceId: string }
  | { kind: "finish"; status: "succeeded" | "halted" };

/** 0 for the canary, then 1, 2, … for the batches. */
export function waveOf(position: number, rollout: Pick<PlannedRollout, "canary" | "batchSize">): number {
  return position < rollout.canary ? 0 : 1 + Math.floor((position - rollout.canary) / rollout.batchSize);
}

/** How many waves the members make: the canary (if any member is in it) plus the batches. */
export function waveCount(members: number, rollout: Pick<PlannedRollout, "canary" | "batchSize">): number {
  return members === 0 ? 0 : waveOf(members - 1, rollout) + 1;
}

export function planRollout(rollout: PlannedRollout, members: readonly PlannedMember[]): RolloutAction[] {
  const failures = members.filter((member) => member.outcome === "failed");
  if (rollout.status === "halted" || failures.length > rollout.maxFailures) {
    return planHalt(rollout, members, failures);
  }
  const open = members.filter((member) => member.outcome === "pending" || member.outcome === "upgrading");
  if (open.length === 0) {
    return [
      ...(rollout.promoted ? [] : [{ kind: "promote" } as const]),
      { kind: "finish", status: "succeeded" },
    ];
  }
  if (rollout.status === "paused") return [];
  const wave = Math.min(...open.map((member) => waveOf(member.position, rollout)));
  const starts: RolloutAction[] = open
    .filter((member) => member.outcome === "pending" && waveOf(member.position, rollout) === wave)
    .map((member) => ({ kind: "start", instanceId: member.instanceId }));
  // The canary has ended within the limit: new servers boot the bundle from now on.
  return wave > 0 && !rollout.promoted ? [{ kind: "promote" }, ...starts] : starts;
}

function planHalt(
  rollout: PlannedRollout,
  members: readonly PlannedMember[],
  failures: readonly PlannedMember[],
): RolloutAction[] {
  const actions: RolloutAction[] = [];
  if (rollout.status !== "halted") {
    actions.push({
      kind: "halt",
      reason: `${failures.length} upgrade(s) failed, more than the ${rollout.maxFailures} allowed`,
    });
  }
  const rollBacks = failures.filter((member) => member.needsRollback && member.rollback === "none");
  for (const member of rollBacks) actions.push({ kind: "rollBack", instanceId: member.instanceId });
  const busy = members.some((member) => member.outcome === "upgrading" || member.rollback === "running");
  if (!busy && rollBacks.length === 0) actions.push({ kind: "finish", status: "halted" });
  return actions;
}
