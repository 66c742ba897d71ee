/**
 * After `bun run ops restore` the database is older than the world: servers were created, reprovisioned and
 * deleted since the snapshot. While the restore's hold is open, sweeps adopt the servers labelled for known
 * instances, resume every operation the snapshot recorded unfinished, and hold back whatever would delete or
 * create a server (recorded `held`), until an operator's `ops reconcile --apply` releases the hold.
 */
import { desc, isNull } from "drizzle-orm";
import type { Db } from "../../db/index.ts";
import { restores } from "../../db/schema.ts";
import type { Decision, DecisionKind, RestoreHold } from "./types.ts";

/** Decisions that delete a server or may create one: never applied on a restored database's word alone. */
const HELD_KINDS: ReadonlySet<DecisionKind> = new Set([
  "delete-zombie-server",
  "enqueue-deprovision",
  "enqueue-provision",
]);

/** Whether the open hold (if any) keeps this decision from being applied. */
export function isHeld(decision: Decision, hold: RestoreHold | null | undefined): boolean {
  return hold != null && HELD_KINDS.has(decision.kind);
}

/** The newest restore whose hold is still open, or null. */
export function readOpenRestoreHold(db: Db): RestoreHold | null {
  const row = db
    .select({ id: restores.id, restoredAt: restores.restoredAt, snapshotTakenAt: restores.snapshotTakenAt })
    .from(restores)
    .where(isNull(restores.releasedAt))
    .orderBy(desc(restores.restoredAt))
    .limit(1)
    .get();
  return row ?? null;
}

/** Releases every open hold on behalf of `sweepId`; returns the ids released. */
export function releaseRestoreHolds(db: Db, sweepId: string, now: number): string[] {
  return db
    .update(restores)
    .set({ releasedAt: now, releasedBySweep: sweepId })
    .where(isNull(restores.releasedAt))
    .returning({ id: restores.id })
    .all()
    .map((row) => row.id);
}
