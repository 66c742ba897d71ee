/** What happened to an instance, in time order, in words an operator reads at 3 a.m. */
import type { operations } from "../../db/schema.ts";
import type { StepRunView } from "../operation-progress.ts";
import type { InstanceView } from "./instances.ts";

export interface TimelineEvent {
  /** ISO 8601. */
  at: string;
  /** The operation (broker job) it belongs to; null for the instance's own events. */
  operationId: string | null;
  /** e.g. "create-server attempt 2 failed: no_capacity …". */
  event: string;
}

interface Timed {
  ms: number;
  operationId: string | null;
  event: string;
}

/** Every event of the instance, its operations and their step runs, oldest first (ties keep record order). */
export function buildTimeline(
  instance: InstanceView,
  rows: readonly (typeof operations.$inferSelect)[],
  runsByOperation: ReadonlyMap<string, readonly StepRunView[]>,
): TimelineEvent[] {
  const events: Timed[] = [...instanceEvents(instance)];
  for (const row of rows) {
    events.push({ ms: row.createdAt, operationId: row.id, event: `${row.operation} requested` });
    for (const run of runsByOperation.get(row.id) ?? []) events.push(...stepRunEvents(row.id, run));
    if (row.finishedAt !== null) {
      const why = row.status === "failed" ? ` at ${row.errorStep ?? "?"}: ${row.errorCode ?? "error"}` : "";
      events.push({ ms: row.finishedAt, operationId: row.id, event: `${row.operation} ${row.status}${why}` });
    }
  }
  return events
    .map((event, order) => ({ event, order }))
    .sort((a, b) => a.event.ms - b.event.ms || a.order - b.order)
    .map(({ event }) => ({
      at: new Date(event.ms).toISOString(),
      operationId: event.operationId,
      event: event.event,
    }));
}

function instanceEvents(instance: InstanceView): Timed[] {
  const at = (iso: string | null, event: string): Timed[] =>
    iso === null ? [] : [{ ms: Date.parse(iso), operationId: null, event }];
  return [
    ...at(instance.createdAt, "instance created"),
    ...at(instance.callbackReceivedAt, "cloud-init callback received"),
    ...at(instance.readyAt, "instance ready"),
    ...at(instance.deprovisionedAt, "instance deprovisioned"),
  ];
}

function stepRunEvents(operationId: string, run: StepRunView): Timed[] {
  const what = `${run.kind === "compensate" ? "undo " : ""}${run.step}${run.run > 1 ? ` (run ${run.run})` : ""}`;
  const started: Timed = { ms: run.startedAt, operationId, event: `${what} attempt ${run.attempt} started` };
  // An unfinished attempt is still running, or parked on a durable wait.
  if (run.finishedAt === null) return [{ ...started, event: `${started.event}, ${run.status}` }];
  const error = run.errorCode === null ? "" : `: ${run.errorCode} ${run.errorMessage ?? ""}`.trimEnd();
  const duration = run.durationMs === null ? "" : ` after ${run.durationMs} ms`;
  return [
    started,
    {
      ms: run.finishedAt,
      operationId,
      event: `${what} attempt ${run.attempt} ${run.status}${duration}${error}`,
    },
  ];
}
