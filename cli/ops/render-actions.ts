/** What `ops retry`, `ops deprovision`, `ops upgrade` and `ops reconcile` report once the API accepted them. */
import type { RetryOutcome } from "../../domain/ops/retry.ts";
import type { RequestResult } from "../../domain/requests.ts";
import type { SweepRecord } from "../../jobs/reconcile/sweep-record.ts";
import type { UpgradeRequested } from "../../jobs/upgrade/request.ts";
import { counted, formatTable } from "./table.ts";

export function renderRetry(outcome: RetryOutcome): string[] {
  if (outcome.resumesAt === null) {
    return [
      `${outcome.jobId} on instance ${outcome.instanceId} is still ${outcome.previousStatus}: its broker job was re-added (a no-op if it is live)`,
    ];
  }
  return [
    `re-running ${outcome.jobId} on instance ${outcome.instanceId} from its failed step ${outcome.resumesAt}`,
    `follow it with: bun run ops instance ${outcome.instanceId}`,
  ];
}

export function renderDeprovision(requested: RequestResult): string[] {
  const how = requested.created ? "requested" : "already under way";
  return [
    `deprovision of instance ${requested.instanceId} ${how}: job ${requested.operationId}`,
    `follow it with: bun run ops instance ${requested.instanceId}`,
  ];
}

export function renderUpgrade(requested: UpgradeRequested): string[] {
  const how = requested.created ? "requested" : "already under way";
  return [
    `upgrade of instance ${requested.instanceId} to bundle ${requested.bundleId} ${how}: job ${requested.operationId}`,
    `follow it with: bun run ops instance ${requested.instanceId}`,
  ];
}

export function renderSweep(sweep: SweepRecord): string[] {
  const kind = sweep.dryRun ? "dry run (nothing changed)" : "sweep";
  const header = `${kind} ${sweep.id}: ${sweep.status}, ${counted(sweep.serversSeen, "server")} seen, ${counted(sweep.hetznerRequests, "Hetzner request")}`;
  const notes = [
    ...(sweep.error === null ? [] : [`  failed: ${sweep.error.code}: ${sweep.error.message}`]),
    ...(sweep.skipped === null ? [] : [`  skipped: ${sweep.skipped}`]),
  ];
  if (sweep.decisions.length === 0)
    return [header, ...notes, ...(notes.length === 0 ? ["  nothing to do"] : [])];
  return [
    header,
    ...notes,
    ...formatTable(
      ["decision", "outcome", "reason"],
      sweep.decisions.map((d) => [
        d.kind,
        d.error === undefined ? d.outcome : `${d.outcome}: ${d.error}`,
        d.reason,
      ]),
    ),
  ];
}
