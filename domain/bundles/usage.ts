/**
 * Which bundles are in use: run by a live instance (its recorded bundle) or promised to one (a live grant).
 * Retention never deletes these, and `ops bundles` shows who runs what.
 */
import { and, eq, gt, isNotNull, isNull, ne } from "drizzle-orm";
import type { Db } from "../../db/index.ts";
import { bundleGrants, instances, rollouts } from "../../db/schema.ts";

/** Instance ids per bundle id, for instances not deprovisioned. */
export function instancesByBundle(db: Db): Map<string, string[]> {
  const rows = db
    .select({ id: instances.id, bundleId: instances.bundleId })
    .from(instances)
    .where(and(isNotNull(instances.bundleId), ne(instances.status, "deprovisioned")))
    .orderBy(instances.id)
    .all();
  const byBundle = new Map<string, string[]>();
  for (const { id, bundleId } of rows) {
    if (bundleId === null) continue;
    byBundle.set(bundleId, [...(byBundle.get(bundleId) ?? []), id]);
  }
  return byBundle;
}

/** Every bundle id a live instance runs, a live grant may still fetch, or an unfinished rollout ships. */
export function bundlesInUse(db: Db, now: number): Set<string> {
  const granted = db
    .selectDistinct({ bundleId: bundleGrants.bundleId })
    .from(bundleGrants)
    .where(and(isNull(bundleGrants.endedAt), gt(bundleGrants.expiresAt, now)))
    .all();
  const rolling = db
    .select({ bundleId: rollouts.bundleId })
    .from(rollouts)
    .where(isNull(rollouts.finishedAt))
    .all();
  return new Set([
    ...instancesByBundle(db).keys(),
    ...granted.map((row) => row.bundleId),
    ...rolling.map((row) => row.bundleId),
  ]);
}

/** Records the bundle an instance now runs (after its boot is confirmed, or an upgrade switched). */
export function recordInstanceBundle(db: Db, instanceId: string, bundleId: string, now: number): void {
  db.update(instances).set({ bundleId, updatedAt: now }).where(eq(instances.id, instanceId)).run();
}
