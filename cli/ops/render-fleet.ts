/** Tables for `ops status`, `ops instances` and `ops jobs --failed`. */

import type { BackupStatus } from "../../domain/ops/backup-status.ts";
import type { InstanceView } from "../../domain/ops/instances.ts";
import type { JobView } from "../../domain/ops/jobs.ts";
import type { Page } from "../../domain/ops/page.ts";
import type { QueueDepths } from "../../domain/ops/queue-depths.ts";
import type { FleetStatus, ProjectStatus } from "../../domain/ops/status.ts";
import type { ProjectCapacityView } from "../../jobs/capacity/line.ts";
import type { SweepRecord } from "../../jobs/reconcile/sweep-record.ts";
import type { RolloutView } from "../../jobs/rollout/view.ts";
import { rolloutLine } from "./render-rollout.ts";
import { counted, formatFields, formatTable } from "./table.ts";

/** The status answer: the fleet from the database plus the broker's depths (null when it did not answer). */
export interface StatusAnswer extends FleetStatus {
  queue: QueueDepths | null;
  queueError: string | null;
  backups: BackupStatus;
  /** The newest rollout; null before the first. */
  rollout: RolloutView | null;
}

export function renderStatus(status: StatusAnswer): string[] {
  const states = Object.entries(status.instancesByState);
  const operations = Object.entries(status.jobsByStatus);
  const statuses = [...new Set(operations.flatMap(([, byStatus]) => Object.keys(byStatus)))];
  return [
    "instances",
    ...formatTable(
      ["state", "count"],
      states.map(([state, total]) => [state, total]),
    ),
    "",
    "jobs",
    ...(operations.length === 0
      ? ["  none yet"]
      : formatTable(
          ["operation", ...statuses],
          operations.map(([operation, byStatus]) => [operation, ...statuses.map((s) => byStatus[s] ?? 0)]),
        )),
    "",
    ...capacitySection(status.capacity),
    "",
    ...formatFields([
      ["failed jobs", status.failedJobs],
      [
        "broker queue",
        status.queue === null ? `unavailable: ${status.queueError ?? "no answer"}` : depths(status.queue),
      ],
      ["last sweep", status.lastSweep === null ? "none yet" : sweepLine(status.lastSweep)],
      ["rollout", status.rollout === null ? "none yet" : rolloutLine(status.rollout)],
      ["last backup", status.backups.newestLocalSnapshot ?? "none yet"],
      ["off-box copy", status.backups.offBoxTarget ?? "none"],
    ]),
    ...status.backups.warnings.map((warning) => `warning: ${warning}`),
  ];
}

/** Servers used / limit and requests left per Hetzner project, then the waiting line in order. */
function capacitySection(capacity: FleetStatus["capacity"]): string[] {
  const line = capacity.waiting.map((w) => [w.position, w.instanceId, new Date(w.requestedAt).toISOString()]);
  return [
    "capacity",
    ...formatTable(
      ["project", "servers", "limit", "room", "requests left"],
      capacity.projects.map((p) => [p.project, p.used, p.limit ?? "unknown", roomOf(p), requestsLeft(p)]),
    ),
    `waiting for capacity: ${capacity.waiting.length}`,
    ...(line.length === 0 ? [] : formatTable(["place", "instance", "requested"], line)),
  ];
}

/** The budget as a worker last recorded it: `3412/3600 (12s ago)`. */
function requestsLeft(p: ProjectStatus): string {
  const budget = p.requestBudget;
  if (budget === null) return "not recorded";
  if (budget.remaining === null || budget.limit === null) return "no answer yet";
  const ageSeconds = Math.max(0, Math.round((Date.now() - budget.observedAt) / 1000));
  return `${budget.remaining}/${budget.limit} (${ageSeconds}s ago)`;
}

function roomOf(p: ProjectCapacityView): string | number {
  if (p.learnedFull) return "0 (Hetzner said full)";
  return p.room ?? "unbounded";
}

function depths(queue: QueueDepths): string {
  return `waiting ${queue.waiting + queue.prioritized}, active ${queue.active}, delayed ${queue.delayed}, failed ${queue.failed}`;
}

function sweepLine(sweep: SweepRecord): string {
  const kind = sweep.dryRun ? "dry run" : "sweep";
  const when = sweep.finishedAt ?? sweep.requestedAt;
  const seen = sweep.serversSeen === null ? "" : `, ${counted(sweep.serversSeen, "server")} seen`;
  const cost = sweep.hetznerRequests === null ? "" : `, ${counted(sweep.hetznerRequests, "Hetzner request")}`;
  const error = sweep.error === null ? "" : ` (${sweep.error.code})`;
  return `${sweep.id}: ${sweep.trigger} ${kind} ${sweep.status}${error} at ${when}${seen}${cost}, ${counted(sweep.decisions.length, "decision")}`;
}

export function renderInstances(page: Page<InstanceView>): string[] {
  if (page.items.length === 0) return ["no instances", ...nextPage(page)];
  return [
    ...formatTable(
      ["instance", "state", "customer", "server", "ipv4", "location", "created", "error"],
      page.items.map((instance) => [
        instance.id,
        instance.state,
        instance.customerId,
        instance.hetznerServerId,
        instance.ipv4,
        instance.location,
        instance.createdAt,
        instance.errorCode === null ? null : `${instance.errorCode} at ${instance.errorStep ?? "?"}`,
      ]),
    ),
    ...nextPage(page),
  ];
}

export function renderFailedJobs(page: Page<JobView>): string[] {
  if (page.items.length === 0) return ["no failed jobs", ...nextPage(page)];
  return [
    ...formatTable(
      ["job", "instance", "customer", "step", "error", "failed at", "message"],
      page.items.map((job) => [
        job.jobId,
        job.instanceId,
        job.customerId,
        job.errorStep,
        job.errorCode,
        job.finishedAt ?? job.updatedAt,
        job.errorMessage,
      ]),
    ),
    ...nextPage(page),
  ];
}

function nextPage(page: Page<unknown>): string[] {
  return page.nextCursor === null ? [] : ["", `more: add --cursor ${page.nextCursor}`];
}
