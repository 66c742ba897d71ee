/**
 * One delivery of a rollout's job: observe what its members' upgrades did, decide with the pure
 * `planRollout`, act, and say whether the rollout has finished or wants another look. Every action is
 * idempotent (a start joins the member's upgrade already in flight, promoting twice writes the same
 * `current`, every record is conditional on the state it leaves), so a delivery repeated after a crash,
 * or two at once, leave the same records as one.
 */
import type { Logger } from "../../core/log.ts";
import { UnknownInstanceError } from "../errors.ts";
import { requestUpgrade, UpgradeRefusedError, type UpgradeRequestDeps } from "../upgrade/request.ts";
import { instancesToUpgrade } from "./candidates.ts";
import { planRollout, type RolloutAction } from "./plan.ts";
import {
  appendMembers,
  finishRollout,
  loadMembers,
  loadRollout,
  markMemberSkipped,
  markMemberUpgrading,
  markPromoted,
  markRollbackStarted,
  noteMemberWaiting,
  observeMembers,
  type RolloutRow,
  setRolloutStatus,
} from "./store.ts";

/** What a delivery needs: what an upgrade request needs (each member's upgrade is one), and a logger. */
export interface RolloutDeps extends UpgradeRequestDeps {
  log: Logger;
}

/** `finished`: nothing more will happen; `continue`: look again in a while. */
export type RolloutDelivery = "finished" | "continue";

export async function deliverRollout(deps: RolloutDeps, rolloutId: string): Promise<RolloutDelivery> {
  const rollout = loadRollout(deps.db, rolloutId);
  if (rollout === undefined) {
    deps.log.error({ rolloutId }, "rollout job for an unknown rollout; dropped");
    return "finished";
  }
  if (rollout.finishedAt !== null) return "finished";
  const members = observeMembers(deps.db, rolloutId, deps.now());
  const actions = planRollout({ ...rollout, promoted: rollout.promotedAt !== null }, members);
  for (const action of actions) {
    if (
      action.kind === "finish" &&
      action.status === "succeeded" &&
      (await adoptLateMembers(deps, rollout)) > 0
    ) {
      continue;
    }
    await act(deps, rollout, action);
  }
  return loadRollout(deps.db, rolloutId)?.finishedAt === null ? "continue" : "finished";
}

async function act(deps: RolloutDeps, rollout: RolloutRow, action: RolloutAction): Promise<void> {
  const log = deps.log.child({ rolloutId: rollout.id });
  switch (action.kind) {
    case "start":
      return startMember(deps, rollout, action.instanceId);
    case "promote":
      await deps.store.promote(rollout.bundleId);
      markPromoted(deps.db, rollout.id, deps.now());
      log.info({ bundleId: rollout.bundleId }, "rollout canary passed; bundle promoted");
      return;
    case "halt":
      if (
        setRolloutStatus(deps.db, rollout.id, ["running", "paused"], "halted", deps.now(), {
          haltReason: action.reason,
        })
      ) {
        log.warn({ reason: action.reason }, "rollout halted");
      }
      return;
    case "rollBack":
      return rollBackMember(deps, rollout, action.instanceId);
    case "finish":
      finishRollout(deps.db, rollout.id, action.status, deps.now());
      log.info({ status: action.status }, "rollout finished");
      return;
  }
}

/**
 * Servers provisioned while the rollout ran, before its bundle was current, boot the old one: before it
 * ends they join it as a last wave. Returns how many joined.
 */
async function adoptLateMembers(deps: RolloutDeps, rollout: RolloutRow): Promise<number> {
  const members = new Set(loadMembers(deps.db, rollout.id).map((member) => member.instanceId));
  const late = await instancesToUpgrade(deps, rollout.bundleId, rollout.architecture, members);
  if (late.length === 0) return 0;
  appendMembers(deps.db, rollout.id, late);
  deps.log.info(
    { rolloutId: rollout.id, instances: late.map((m) => m.instanceId) },
    "rollout adopted late members",
  );
  return late.length;
}

async function startMember(deps: RolloutDeps, rollout: RolloutRow, instanceId: string): Promise<void> {
  const now = deps.now();
  try {
    const { operationId } = await requestUpgrade(deps, instanceId, rollout.bundleId);
    markMemberUpgrading(deps.db, rollout.id, instanceId, operationId, now);
  } catch (err) {
    if (err instanceof UnknownInstanceError) {
      markMemberSkipped(deps.db, rollout.id, instanceId, err.message, now);
      return;
    }
    if (!(err instanceof UpgradeRefusedError)) {
      // The broker did not take the job: the upgrade is recorded, and the next look re-adds it.
      noteMemberWaiting(deps.db, rollout.id, instanceId, `not queued yet: ${messageOf(err)}`);
      return;
    }
    switch (err.code) {
      case "instance_busy":
      case "upgrade_in_progress":
        noteMemberWaiting(deps.db, rollout.id, instanceId, `waiting: ${err.message}`);
        return;
      case "not_running":
      case "wrong_architecture":
        markMemberSkipped(deps.db, rollout.id, instanceId, err.message, now);
        return;
      case "unknown_bundle": {
        const reason = `bundle ${rollout.bundleId} is no longer on the control plane`;
        setRolloutStatus(deps.db, rollout.id, ["running", "paused"], "halted", now, { haltReason: reason });
        return;
      }
    }
  }
}

async function rollBackMember(deps: RolloutDeps, rollout: RolloutRow, instanceId: string): Promise<void> {
  const member = loadMembers(deps.db, rollout.id).find((row) => row.instanceId === instanceId);
  if (member?.fromBundleId == null) return;
  try {
    const { operationId } = await requestUpgrade(deps, instanceId, member.fromBundleId);
    markRollbackStarted(deps.db, rollout.id, instanceId, operationId);
    deps.log.warn({ rolloutId: rollout.id, instanceId, operationId }, "rolling a failed member back");
  } catch (err) {
    // Busy, or the broker down: the next look asks again (a degraded server keeps its old bundle on disk).
    deps.log.warn({ rolloutId: rollout.id, instanceId, err }, "rollback of a failed member not started yet");
  }
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
