/** A rollout as `ops rollout status`, `ops status` and the metrics show it: its settings, where it is, its members. */
import type { Db } from "../../db/index.ts";
import { type RolloutMemberOutcome, rolloutMemberOutcomes } from "../../db/schema.ts";
import { waveCount, waveOf } from "./plan.ts";
import { latestRollout, loadMembers, loadRollout, type RolloutRow } from "./store.ts";

export interface RolloutMemberView {
  instanceId: string;
  /** 0 for the canary, then 1, 2, … for the batches. */
  wave: number;
  outcome: RolloutMemberOutcome;
  fromBundleId: string | null;
  operationId: string | null;
  rollbackOperationId: string | null;
  detail: string | null;
}

export interface RolloutView {
  id: string;
  bundleId: string;
  architecture: string;
  status: RolloutRow["status"];
  canary: number;
  batchSize: number;
  maxFailures: number;
  promotedAt: number | null;
  haltReason: string | null;
  createdAt: number;
  finishedAt: number | null;
  /** Members by outcome (every outcome listed). */
  members: Record<RolloutMemberOutcome, number>;
  /** The wave under way or next (0 = canary) and how many there are. */
  wave: { current: number; total: number };
  /** Members upgraded per minute from the rollout's start to its end (or now); null before the first. */
  instancesPerMinute: number | null;
}

export interface RolloutDetail extends RolloutView {
  memberList: RolloutMemberView[];
}

export function rolloutDetail(db: Db, rolloutId: string, now: number): RolloutDetail | null {
  const rollout = loadRollout(db, rolloutId);
  return rollout === undefined ? null : detailOf(db, rollout, now);
}

/** The newest rollout with its members, or null before the first. */
export function latestRolloutDetail(db: Db, now: number): RolloutDetail | null {
  const rollout = latestRollout(db);
  return rollout === undefined ? null : detailOf(db, rollout, now);
}

/** The newest rollout without its member list (for `ops status`), or null. */
export function latestRolloutView(db: Db, now: number): RolloutView | null {
  const detail = latestRolloutDetail(db, now);
  if (detail === null) return null;
  const { memberList: _, ...view } = detail;
  return view;
}

function detailOf(db: Db, rollout: RolloutRow, now: number): RolloutDetail {
  const rows = loadMembers(db, rollout.id);
  const members = Object.fromEntries(rolloutMemberOutcomes.map((outcome) => [outcome, 0])) as Record<
    RolloutMemberOutcome,
    number
  >;
  for (const row of rows) members[row.outcome] += 1;
  const open = rows.filter((row) => row.outcome === "pending" || row.outcome === "upgrading");
  const total = waveCount(rows.length, rollout);
  const current = open.length === 0 ? total : Math.min(...open.map((row) => waveOf(row.position, rollout)));
  const minutes = ((rollout.finishedAt ?? now) - rollout.createdAt) / 60_000;
  return {
    id: rollout.id,
    bundleId: rollout.bundleId,
    architecture: rollout.architecture,
    status: rollout.status,
    canary: rollout.canary,
    batchSize: rollout.batchSize,
    maxFailures: rollout.maxFailures,
    promotedAt: rollout.promotedAt,
    haltReason: rollout.haltReason,
    createdAt: rollout.createdAt,
    finishedAt: rollout.finishedAt,
    members,
    wave: { current, total },
    instancesPerMinute: members.upgraded > 0 && minutes > 0 ? members.upgraded / minutes : null,
    memberList: rows.map((row) => ({
      instanceId: row.instanceId,
      wave: waveOf(row.position, rollout),
      outcome: row.outcome,
      fromBundleId: row.fromBundleId,
      operationId: row.operationId,
      rollbackOperationId: row.rollbackOperationId,
      detail: row.detail,
    })),
  };
}
