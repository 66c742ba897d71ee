/**
 * The rollout's records: creating one with its members (one transaction, never two unfinished at once),
 * reading what its members' upgrades did, and each change a delivery makes. Every write is conditional on
 * the state it moves from, so a repeated delivery (the broker redelivers after a crash) changes nothing twice.
 */
import { and, asc, desc, eq, inArray, isNull, sql } from "drizzle-orm";
import type { Db } from "../../db/index.ts";
import { instances, operations, type RolloutStatus, rolloutMembers, rollouts } from "../../db/schema.ts";
import { activeOperationStatuses } from "../../domain/operations.ts";
import type { PlannedMember } from "./plan.ts";

/** The error code a deprovision gives the operations it cancels (jobs/deprovision/cancel-provision.ts). */
const CANCELLED = "cancelled";

export type RolloutRow = typeof rollouts.$inferSelect;
export type RolloutMemberRow = typeof rolloutMembers.$inferSelect;

/** Another rollout has not finished: one at a time, so the fleet never has two targets. */
export class RolloutInProgressError extends Error {
  override readonly name = "RolloutInProgressError";
  constructor(readonly rolloutId: string) {
    super(
      `rollout ${rolloutId} has not finished; pause it or wait for it (see \`bun run ops rollout status\`)`,
    );
  }
}

export interface NewRollout {
  bundleId: string;
  architecture: string;
  canary: number;
  batchSize: number;
  maxFailures: number;
  /** Members in order, each with the bundle it runs now. */
  members: readonly { instanceId: string; bundleId: string | null }[];
  now: number;
}

/** Records the rollout and its members as `rollout-<n>`; throws RolloutInProgressError. */
export function createRollout(db: Db, rollout: NewRollout): RolloutRow {
  return db.transaction(
    (tx) => {
      const unfinished = tx
        .select({ id: rollouts.id })
        .from(rollouts)
        .where(isNull(rollouts.finishedAt))
        .get();
      if (unfinished) throw new RolloutInProgressError(unfinished.id);
      const { total } = tx.select({ total: sql<number>`count(*)` }).from(rollouts).get() ?? { total: 0 };
      const row: RolloutRow = {
        id: `rollout-${total + 1}`,
        bundleId: rollout.bundleId,
        architecture: rollout.architecture,
        canary: rollout.canary,
        batchSize: rollout.batchSize,
        maxFailures: rollout.maxFailures,
        status: "running",
        promotedAt: null,
        haltReason: null,
        createdAt: rollout.now,
        updatedAt: rollout.now,
        finishedAt: null,
      };
      tx.insert(rollouts).values(row).run();
      rollout.members.forEach((member, position) => {
        tx.insert(rolloutMembers)
          .values({
            rolloutId: row.id,
            instanceId: member.instanceId,
            position,
            fromBundleId: member.bundleId,
            outcome: "pending",
          })
          .run();
      });
      return row;
    },
    { behavior: "immediate" },
  );
}

/** Adds members after the last one (servers that began running a bundle of its architecture meanwhile). */
export function appendMembers(
  db: Db,
  rolloutId: string,
  members: readonly { instanceId: string; bundleId: string | null }[],
): void {
  db.transaction(
    (tx) => {
      const last = tx
        .select({ position: sql<number | null>`max(${rolloutMembers.position})` })
        .from(rolloutMembers)
        .where(eq(rolloutMembers.rolloutId, rolloutId))
        .get();
      const first = (last?.position ?? -1) + 1;
      members.forEach((member, index) => {
        tx.insert(rolloutMembers)
          .values({
            rolloutId,
            instanceId: member.instanceId,
            position: first + index,
            fromBundleId: member.bundleId,
            outcome: "pending",
          })
          .onConflictDoNothing()
          .run();
      });
    },
    { behavior: "immediate" },
  );
}

export function loadRollout(db: Db, rolloutId: string): RolloutRow | undefined {
  return db.select().from(rollouts).where(eq(rollouts.id, rolloutId)).get();
}

/** The newest rollout, finished or not. */
export function latestRollout(db: Db): RolloutRow | undefined {
  return db.select().from(rollouts).orderBy(desc(rollouts.createdAt), desc(rollouts.id)).limit(1).get();
}

/** The rollout that has not finished, if any. */
export function unfinishedRollout(db: Db): RolloutRow | undefined {
  return db.select().from(rollouts).where(isNull(rollouts.finishedAt)).get();
}

export function loadMembers(db: Db, rolloutId: string): RolloutMemberRow[] {
  return db
    .select()
    .from(rolloutMembers)
    .where(eq(rolloutMembers.rolloutId, rolloutId))
    .orderBy(asc(rolloutMembers.position))
    .all();
}

/** Moves the rollout from one of `from` to `to`; false when it was in none of them. */
export function setRolloutStatus(
  db: Db,
  rolloutId: string,
  from: readonly RolloutStatus[],
  to: RolloutStatus,
  now: number,
  extra: { haltReason?: string; finishedAt?: number } = {},
): boolean {
  const moved = db
    .update(rollouts)
    .set({ status: to, updatedAt: now, ...extra })
    .where(and(eq(rollouts.id, rolloutId), inArray(rollouts.status, [...from]), isNull(rollouts.finishedAt)))
    .returning({ id: rollouts.id })
    .all();
  return moved.length > 0;
}

export function markPromoted(db: Db, rolloutId: string, now: number): void {
  db.update(rollouts)
    .set({ promotedAt: now, updatedAt: now })
    .where(and(eq(rollouts.id, rolloutId), isNull(rollouts.promotedAt)))
    .run();
}

/** Ends the rollout with the status it has (halted) or `status`; a second call changes nothing. */
export function finishRollout(db: Db, rolloutId: string, status: "succeeded" | "halted", now: number): void {
  db.update(rollouts)
    .set({ status, finishedAt: now, updatedAt: now })
    .where(and(eq(rollouts.id, rolloutId), isNull(rollouts.finishedAt)))
    .run();
}

export function markMemberUpgrading(
  db: Db,
  rolloutId: string,
  instanceId: string,
  operationId: string,
  now: number,
): void {
  db.update(rolloutMembers)
    .set({ outcome: "upgrading", operationId, detail: null, startedAt: now })
    .where(memberIs(rolloutId, instanceId, "pending"))
    .run();
}

export function markMemberSkipped(
  db: Db,
  rolloutId: string,
  instanceId: string,
  why: string,
  now: number,
): void {
  db.update(rolloutMembers)
    .set({ outcome: "skipped", detail: why, finishedAt: now })
    .where(memberIs(rolloutId, instanceId, "pending"))
    .run();
}

/** Says why a pending member has not started yet (another operation in flight, the broker down). */
export function noteMemberWaiting(db: Db, rolloutId: string, instanceId: string, why: string): void {
  db.update(rolloutMembers)
    .set({ detail: why })
    .where(memberIs(rolloutId, instanceId, "pending"))
    .run();
}

export function markRollbackStarted(
  db: Db,
  rolloutId: string,
  instanceId: string,
  operationId: string,
): void {
  db.update(rolloutMembers)
    .set({ rollbackOperationId: operationId })
    .where(and(memberIs(rolloutId, instanceId, "failed"), isNull(rolloutMembers.rollbackOperationId)))
    .run();
}

function memberIs(rolloutId: string, instanceId: string, outcome: RolloutMemberRow["outcome"]) {
  return and(
    eq(rolloutMembers.rolloutId, rolloutId),
    eq(rolloutMembers.instanceId, instanceId),
    eq(rolloutMembers.outcome, outcome),
  );
}

/**
 * Records the end of every member upgrade that has ended since the last look, and returns the members as
 * the plan needs them: with whether a failed one's server still needs rolling back, and how that went.
 */
export function observeMembers(db: Db, rolloutId: string, now: number): PlannedMember[] {
  const rows = db
    .select({
      member: rolloutMembers,
      upgrade: { status: operations.status, code: operations.errorCode, message: operations.errorMessage },
      instanceStatus: instances.status,
    })
    .from(rolloutMembers)
    .innerJoin(instances, eq(instances.id, rolloutMembers.instanceId))
    .leftJoin(operations, eq(operations.id, rolloutMembers.operationId))
    .where(eq(rolloutMembers.rolloutId, rolloutId))
    .orderBy(asc(rolloutMembers.position))
    .all();
  const rollbacks = rollbackStatuses(
    db,
    rows.map((row) => row.member.rollbackOperationId),
  );
  return rows.map(({ member, upgrade, instanceStatus }) => {
    let outcome = member.outcome;
    if (outcome === "upgrading" && (upgrade?.status === "succeeded" || upgrade?.status === "failed")) {
      // A deprovision cancelled it: the instance left the fleet, which says nothing about the bundle.
      const cancelled = upgrade.status === "failed" && upgrade.code === CANCELLED;
      outcome = upgrade.status === "succeeded" ? "upgraded" : cancelled ? "skipped" : "failed";
      const detail = upgrade.status === "failed" ? `${upgrade.code}: ${upgrade.message}` : null;
      db.update(rolloutMembers)
        .set({ outcome, detail, finishedAt: now })
        .where(memberIs(rolloutId, member.instanceId, "upgrading"))
        .run();
    }
    const rollback =
      member.rollbackOperationId === null ? undefined : rollbacks.get(member.rollbackOperationId);
    return {
      instanceId: member.instanceId,
      position: member.position,
      outcome,
      needsRollback: outcome === "failed" && member.fromBundleId !== null && instanceStatus === "degraded",
      rollback:
        member.rollbackOperationId === null
          ? "none"
          : rollback !== undefined && activeOperationStatuses.includes(rollback)
            ? "running"
            : "ended",
    };
  });
}

function rollbackStatuses(db: Db, ids: readonly (string | null)[]) {
  const wanted = ids.filter((id): id is string => id !== null);
  if (wanted.length === 0) return new Map<string, (typeof operations.$inferSelect)["status"]>();
  const rows = db
    .select({ id: operations.id, status: operations.status })
    .from(operations)
    .where(inArray(operations.id, wanted))
    .all();
  return new Map(rows.map((row) => [row.id, row.status]));
}
