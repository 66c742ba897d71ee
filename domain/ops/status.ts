/**
 * The fleet at a glance, from the application database: instances by state, jobs by status, the last sweep;
 * and `ops status`'s whole report, which adds the broker's queue depths and the backups.
 */
import { count } from "drizzle-orm";
import type { BackupConfig } from "../../core/config.ts";
import type { Logger } from "../../core/log.ts";
import type { Db } from "../../db/index.ts";
import { instances, operationStatuses, operations } from "../../db/schema.ts";
import { type BudgetView, budgetView } from "../../jobs/capacity/budgets.ts";
import {
  type CapacitySettings,
  capacityView,
  type ProjectCapacityView,
  type WaitingEntry,
  waitingLine,
} from "../../jobs/capacity/line.ts";
import { latestSweep, type SweepRecord } from "../../jobs/reconcile/sweep-record.ts";
import { latestRolloutView, type RolloutView } from "../../jobs/rollout/view.ts";
import { type BackupStatus, backupStatus } from "./backup-status.ts";
import { INSTANCE_STATES } from "./instances.ts";
import {
  type BrokerAddress,
  type QueueDepths,
  QueueDepthsUnavailableError,
  readQueueDepths,
} from "./queue-depths.ts";

export interface FleetStatus {
  /** Every known state (0 when empty), plus any other status the column holds. */
  instancesByState: Record<string, number>;
  /** By operation, then by status (every status listed, 0 when empty). */
  jobsByStatus: Record<string, Record<string, number>>;
  /** Operations whose last run failed and that nobody re-ran yet. */
  failedJobs: number;
  /** The most recently requested sweep, or null before the first. */
  lastSweep: SweepRecord | null;
  /**
   * Servers used / limit per Hetzner project with its request budget as a worker last recorded it (null
   * before one did), and the provisions waiting for room with their places.
   */
  capacity: { projects: ProjectStatus[]; waiting: WaitingEntry[] };
}

export interface ProjectStatus extends ProjectCapacityView {
  requestBudget: Omit<BudgetView, "project"> | null;
}

function projectStatuses(db: Db, capacity: CapacitySettings): ProjectStatus[] {
  const recorded = budgetView(
    db,
    capacity.projects.map((p) => p.name),
  ).map(({ project, ...budget }) => [project, budget] as const);
  const budgets = new Map(recorded);
  return capacityView(db, capacity).map((view) => ({
    ...view,
    requestBudget: budgets.get(view.project) ?? null,
  }));
}

export function fleetStatus(db: Db, capacity: CapacitySettings): FleetStatus {
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
  return {
    instancesByState,
    jobsByStatus,
    failedJobs,
    lastSweep: latestSweep(db),
    capacity: { projects: projectStatuses(db, capacity), waiting: waitingLine(db) },
  };
}

export interface StatusReport extends FleetStatus {
  /** The newest fleet rollout, or null before the first. */
  rollout: RolloutView | null;
  /** The broker's queue depths; null when it did not answer in time, with the reason in `queueError`. */
  queue: QueueDepths | null;
  queueError: string | null;
  backups: BackupStatus;
}

export interface StatusReportDeps {
  db: Db;
  capacity: CapacitySettings;
  backup: BackupConfig;
  broker: BrokerAddress;
  /** Clock, in epoch ms. */
  now: () => number;
}

/** `ops status`: the fleet, the newest rollout, the queue depths (the rest is still shown when the broker does not answer) and the backups. */
export async function statusReport(deps: StatusReportDeps, log: Logger): Promise<StatusReport> {
  const status = fleetStatus(deps.db, deps.capacity);
  let queue: QueueDepths | null = null;
  let queueError: string | null = null;
  try {
    queue = await readQueueDepths(deps.broker);
  } catch (err) {
    if (!(err instanceof QueueDepthsUnavailableError)) throw err;
    log.warn({ err }, "queue depths unavailable");
    queueError = err.message;
  }
  const rollout = latestRolloutView(deps.db, deps.now());
  return { ...status, rollout, queue, queueError, backups: backupStatus(deps.db, deps.backup) };
}
