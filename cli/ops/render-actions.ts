/** What `ops retry`, `ops deprovision` and `ops reconcile` report once the API accepted them. */
import type { RetryOutcome } from "../../jobs/ops/retry.ts";
import type { RequestResult } from "../../jobs/requests.ts";
import { formatTable } from "./table.ts";

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

/** One decision of a sweep as the API reports it (the sweep's record may carry more fields). */
export interface SweepDecision {
  kind: string;
  reason: string;
  outcome: string;
  error?: string;
}

/** A sweep record as POST /v1/ops/reconcile and GET /v1/ops/sweeps/{id} answer it. */
export interface SweepRecord {
  id: string;
  dryRun: boolean;
  status: string;
  serversSeen: number | null;
  hetznerRequests: number | null;
  decisions: SweepDecision[];
}

export function renderSweep(sweep: SweepRecord): string[] {
  const kind = sweep.dryRun ? "dry run (nothing changed)" : "sweep";
  const header = `${kind} ${sweep.id}: ${sweep.status}, ${sweep.serversSeen ?? "?"} servers seen, ${sweep.hetznerRequests ?? "?"} Hetzner requests`;
  if (sweep.decisions.length === 0) return [header, "  nothing to do"];
  return [
    header,
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
