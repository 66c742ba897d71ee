/** The fleet at a glance, from the application database: instances by state, jobs by status, the last sweep. */
import { count, desc } from "drizzle-orm";
import type { Db } from "../../db/index.ts";
import { instances, operationStatuses, operations, sweeps } from "../../db/schema.ts";
import { INSTANCE_STATES } from "./instances.ts";
import { isoTime } from "./page.ts";

/** The newest reconcile sweep, in brief; times ISO 8601. */
export interface SweepBrief {
  id: string;
  trigger: string;
  dryRun: boolean;
  status: string;
  requestedAt: string | null;
  finishedAt: string | null;
  serversSeen: number | null;
  hetznerRequests: number | null;
  /** How many decisions it recorded (planned in a dry run, applied or failed otherwise). */
  decisions: number;
  errorCode: string | null;
}

export interface FleetStatus {
  /** Every known state (0 when empty), plus any other status the column holds. */
  instancesByState: Record<string, number>;
  /** By operation, then by status (every status listed, 0 when empty). */
  jobsByStatus: Record<string, Record<string, number>>;
  /** Operations whose last run failed and that nobody re-ran yet. */
  failedJobs: number;
  lastSweep: SweepBrief | null;
}

export function fleetStatus(db: Db): FleetStatus {
  const instancesByState: Record<string, number> = Object.fromEntries(INSTANCE_STATES.map((s) => [s, 0]));
  const stateRows = db
    .select({ state: instances.status, total: count() })
    .from(instances)
    .groupBy(instances.status)
    .all();
  for (const row of stateRows) instancesByState[row.state] = row.total;

  const jobsByStatus: Record<string, Record<string, number>> = {};
  const jobRows = db
    .select({ operation: operations.operation, status: operations.status, total: count() })
    .from(operations)
    .groupBy(operations.operation, operations.status)
    .all();
  for (const row of jobRows) {
    const byStatus = jobsByStatus[row.operation] ?? Object.fromEntries(operationStatuses.map((s) => [s, 0]));
    byStatus[row.status] = row.total;
    jobsByStatus[row.operation] = byStatus;
  }
  const failedJobs = jobRows
    .filter((row) => row.status === "failed")
    .reduce((sum, row) => sum + row.total, 0);
  return { instancesByState, jobsByStatus, failedJobs, lastSweep: lastSweep(db) };
}

/** The most recently requested sweep, or null before the first. */
export function lastSweep(db: Db): SweepBrief | null {
  const row = db.select().from(sweeps).orderBy(desc(sweeps.requestedAt), desc(sweeps.id)).limit(1).get();
  if (row === undefined) return null;
  return {
    id: row.id,
    trigger: row.trigger,
    dryRun: row.dryRun,
    status: row.status,
    requestedAt: isoTime(row.requestedAt),
    finishedAt: isoTime(row.finishedAt),
    serversSeen: row.serversSeen,
    hetznerRequests: row.hetznerRequests,
    decisions: decisionCount(row.decisions),
    errorCode: row.errorCode,
  };
}

/** Length of the stored decisions array; 0 while none are recorded. */
function decisionCount(decisions: string | null): number {
  if (decisions === null) return 0;
  const parsed: unknown = JSON.parse(decisions);
  return Array.isArray(parsed) ? parsed.length : 0;
}
