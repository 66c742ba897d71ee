/**
 * Which instances a rollout upgrades: those whose server runs (ready, degraded, or upgrading) a bundle of its
 * architecture other than its own, oldest first, so the canary is the longest-lived. Asked when it starts,
 * and again before it ends, for servers provisioned meanwhile from the bundle that was current then.
 */
import { and, inArray, isNotNull, isNull, ne, or } from "drizzle-orm";
import { architectureOfServerType } from "../../bundle/architecture.ts";
import type { BundleStore } from "../../bundle/store.ts";
import type { Db } from "../../db/index.ts";
import { instances } from "../../db/schema.ts";

const RUNNING_STATUSES = ["ready", "degraded", "upgrading"];

export interface CandidateDeps {
  db: Db;
  store: Pick<BundleStore, "get">;
  /** The configured server type: the architecture of an instance that records no bundle. */
  serverType: string;
}

/** The instances to upgrade to `bundleId`, each with the bundle it runs, leaving out `exclude`. */
export async function instancesToUpgrade(
  deps: CandidateDeps,
  bundleId: string,
  architecture: string,
  exclude: ReadonlySet<string> = new Set(),
): Promise<{ instanceId: string; bundleId: string | null }[]> {
  const rows = deps.db
    .select({ instanceId: instances.id, bundleId: instances.bundleId })
    .from(instances)
    .where(
      and(
        inArray(instances.status, RUNNING_STATUSES),
        isNotNull(instances.hetznerServerId),
        or(isNull(instances.bundleId), ne(instances.bundleId, bundleId)),
      ),
    )
    .orderBy(instances.createdAt, instances.id)
    .all();
  const fallback: string = architectureOfServerType(deps.serverType);
  const architectureOf = new Map<string, string>();
  const members = [];
  for (const row of rows) {
    if (exclude.has(row.instanceId)) continue;
    let running = fallback;
    if (row.bundleId !== null) {
      if (!architectureOf.has(row.bundleId)) {
        architectureOf.set(row.bundleId, (await deps.store.get(row.bundleId))?.architecture ?? fallback);
      }
      running = architectureOf.get(row.bundleId) ?? fallback;
    }
    if (running === architecture) members.push({ instanceId: row.instanceId, bundleId: row.bundleId });
  }
  return members;
}
