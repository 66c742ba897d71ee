/**
 * One recorded sweep: claim it (never two at once), observe, decide with the pure `tick`, apply (or only
 * plan, in a dry run; or hold, after a restore), and record what it saw, decided and did, with its Hetzner
 * request count.
 */
import type { CrashHook } from "../../core/crash-point.ts";
import type { Logger } from "../../core/log.ts";
import type { Db } from "../../db/index.ts";
import type { Requests } from "../../domain/requests.ts";
import { type HetznerClient, type HetznerRequestEvent, isHetznerError } from "../../hetzner/index.ts";
import type { JobQueue } from "../../queue/queue.ts";
import type { SweepBroker } from "./broker.ts";
import { applyDecisions, type ExecuteDeps } from "./execute.ts";
import { observeSweepState, type SweepProjects } from "./observe.ts";
import { isHeld, releaseRestoreHolds } from "./restore-hold.ts";
import type { SweepMetrics } from "./sweep-metrics.ts";
import {
  claimSweep,
  finishSweep,
  type RecordedDecision,
  recordSkippedSweep,
  renewSweepLease,
  type SweepLease,
  type SweepRequest,
  type SweepResult,
} from "./sweep-store.ts";
import { tick } from "./tick.ts";
import type { Decision, SweepPolicy } from "./types.ts";

export interface SweepDeps {
  db: Db;
  /**
   * Builds the Hetzner clients of one sweep, one per project, calling `onRequest` after each of their HTTP
   * attempts (the clients' own hook): that is how the sweep counts its requests per project without
   * counting other jobs'.
   */
  hetznerFor(
    onRequest: (project: string, event: HetznerRequestEvent) => void,
  ): SweepProjects<Pick<HetznerClient, "servers">>;
  broker: Pick<SweepBroker, "liveJobIds">;
  queue: Pick<JobQueue, "enqueue" | "retry">;
  requests: Pick<Requests, "requestProvision">;
  policy: SweepPolicy;
  log: Logger;
  metrics: SweepMetrics;
  /** Clock, in epoch ms; default Date.now. */
  now?: () => number;
  /** Longest a sweep may run before its remaining actions are abandoned, in ms; default 600000 (10 min). */
  timeoutMs?: number;
  /**
   * Lifetime of a running sweep's lease, in ms; default 30000. A sweep whose worker died blocks others at
   * most this long, and its redelivery takes it over once it lapses.
   */
  leaseTtlMs?: number;
  /** Interval of the running sweep's lease renewal, in ms; below leaseTtlMs; default 5000. */
  heartbeatMs?: number;
  /** Aborts the sweep in hand (worker shutdown); it is recorded failed. */
  shutdown?: AbortSignal;
  /** Test fault hook at each phase of a sweep (core/crash-point.ts); default none. */
  crash?: CrashHook;
}

export type SweepRun =
  | { kind: "ran"; result: SweepResult }
  /** Another sweep is running; nothing was done or recorded. */
  | { kind: "busy"; runningId: string }
  /** This sweep had already ended (a repeated delivery). */
  | { kind: "finished" };

const DEFAULT_TIMEOUT_MS = 600_000;
const DEFAULT_LEASE_TTL_MS = 30_000;
const DEFAULT_HEARTBEAT_MS = 5_000;

function sweepError(err: unknown): { code: string; message: string } {
  const message = err instanceof Error ? err.message : String(err);
  if (isHetznerError(err)) return { code: `hetzner_${err.code}`, message };
  if (err instanceof DOMException && err.name === "TimeoutError") return { code: "timeout", message };
  return { code: "sweep_failed", message };
}

function logDecision(deps: SweepDeps, sweepId: string, recorded: RecordedDecision, err: unknown): void {
  deps.metrics.decisionRecorded(recorded.kind, recorded.outcome);
  const fields = { ...recorded, sweepId };
  if (recorded.outcome === "failed") deps.log.warn({ ...fields, err }, "reconcile decision failed");
  else if (recorded.kind === "report-protected-server")
    deps.log.warn(fields, "reconcile drift for an operator");
  else deps.log.info(fields, "reconcile decision");
}

async function observeDecideApply(
  deps: SweepDeps,
  request: SweepRequest,
  projects: SweepProjects<Pick<HetznerClient, "servers">>,
  signal: AbortSignal,
): Promise<Omit<SweepResult, "hetznerRequests">> {
  const now = deps.now ?? Date.now;
  if (request.releaseHold && !request.dryRun) {
    const released = releaseRestoreHolds(deps.db, request.id, now());
    if (released.length > 0)
      deps.log.warn({ sweepId: request.id, released }, "restore hold released by operator");
  }
  const observed = await observeSweepState(
    { projects, db: deps.db, liveJobIds: (ids) => deps.broker.liveJobIds(ids), signal },
    now(),
  );
  const decisions = tick(observed.state, now(), deps.policy);
  deps.crash?.("sweep.decided");
  const onRecorded = (recorded: RecordedDecision, err: unknown) =>
    logDecision(deps, request.id, recorded, err);
  const unapplied = (decision: Decision, outcome: "planned" | "held") => {
    const entry: RecordedDecision = { ...decision, outcome };
    onRecorded(entry, null);
    return entry;
  };
  if (request.dryRun) {
    const planned = decisions.map((decision) => unapplied(decision, "planned"));
    return { status: "succeeded", serversSeen: observed.serversSeen, decisions: planned };
  }
  const hold = observed.state.restoreHold;
  const held = decisions.filter((decision) => isHeld(decision, hold));
  const applied = await applyDecisions(
    { ...deps, now, hetzner: serversByProject(projects, observed.projectOf), signal },
    decisions.filter((decision) => !isHeld(decision, hold)),
    onRecorded,
  );
  const recorded = [...applied, ...held.map((decision) => unapplied(decision, "held"))];
  return { status: "succeeded", serversSeen: observed.serversSeen, decisions: recorded };
}

/** Deletes each server through the client of the project it was listed in. */
function serversByProject(
  projects: SweepProjects<Pick<HetznerClient, "servers">>,
  projectOf: ReadonlyMap<number, string>,
): ExecuteDeps["hetzner"] {
  return {
    servers: {
      delete(id, options) {
        const project = projects.all.find((p) => p.name === projectOf.get(id));
        if (project === undefined)
          throw new Error(`server ${id} was not listed in any project by this sweep`);
        return project.client.servers.delete(id, options);
      },
    },
  };
}

/** Renews the running sweep's lease every heartbeat; `takenOver` aborts once another owner holds it. */
function holdSweepLease(deps: SweepDeps, id: string, lease: SweepLease) {
  const now = deps.now ?? Date.now;
  const takenOver = new AbortController();
  const timer = setInterval(() => {
    try {
      if (!renewSweepLease(deps.db, id, { ...lease, now: now() })) {
        takenOver.abort(new Error(`sweep ${id} was taken over after its lease lapsed`));
      }
    } catch (err) {
      // A busy database misses one renewal; the next beat comes well inside the lease.
      deps.log.warn({ err, sweepId: id }, "sweep lease renewal failed");
    }
  }, deps.heartbeatMs ?? DEFAULT_HEARTBEAT_MS);
  return { takenOver: takenOver.signal, stop: () => clearInterval(timer) };
}

/** Runs the sweep unless another is running; records its outcome either way it runs. */
export async function runSweep(deps: SweepDeps, request: SweepRequest): Promise<SweepRun> {
  const now = deps.now ?? Date.now;
  const timeoutMs = deps.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const owner = crypto.randomUUID();
  const ttlMs = deps.leaseTtlMs ?? DEFAULT_LEASE_TTL_MS;
  const claim = claimSweep(deps.db, request, { owner, now: now(), ttlMs });
  if (claim.kind !== "claimed") return claim;
  deps.crash?.("sweep.claimed");
  const started = now();
  const lease = holdSweepLease(deps, request.id, { owner, now: now(), ttlMs });
  const timeout = AbortSignal.timeout(timeoutMs);
  const signal = AbortSignal.any([timeout, lease.takenOver, ...(deps.shutdown ? [deps.shutdown] : [])]);
  const requestsByProject: Record<string, number> = {};
  const projects = deps.hetznerFor((project) => {
    requestsByProject[project] = (requestsByProject[project] ?? 0) + 1;
  });
  const requestCount = () => Object.values(requestsByProject).reduce((sum, n) => sum + n, 0);
  let result: SweepResult;
  try {
    const done = await observeDecideApply(deps, request, projects, signal);
    result = { ...done, hetznerRequests: requestCount() };
  } catch (err) {
    deps.log.error({ err, sweepId: request.id }, "reconcile sweep failed");
    const error = sweepError(err);
    result = { status: "failed", serversSeen: null, hetznerRequests: requestCount(), decisions: [], error };
  } finally {
    lease.stop();
  }
  deps.crash?.("sweep.applied");
  finishSweep(deps.db, request.id, owner, result, now());
  deps.metrics.sweepFinished(result.status, now() - started, now());
  deps.log.info(
    {
      sweepId: request.id,
      trigger: request.trigger,
      dryRun: request.dryRun,
      status: result.status,
      serversSeen: result.serversSeen,
      hetznerRequests: result.hetznerRequests,
      hetznerRequestsByProject: requestsByProject,
      decisions: result.decisions.length,
      failedDecisions: result.decisions.filter((d) => d.outcome === "failed").length,
      durationMs: now() - started,
    },
    "reconcile sweep",
  );
  return { kind: "ran", result };
}

/**
 * One delivery of a sweep job. Another sweep running: a scheduled sweep is recorded as skipped (the running
 * one covers it), an operator's sweep answers `wait` so its caller retries it shortly.
 */
export async function deliverSweep(deps: SweepDeps, request: SweepRequest): Promise<"done" | "wait"> {
  const run = await runSweep(deps, request);
  if (run.kind !== "busy") return "done";
  if (request.trigger === "operator") return "wait";
  const now = (deps.now ?? Date.now)();
  recordSkippedSweep(deps.db, request, run.runningId, now);
  deps.metrics.sweepFinished("skipped", 0, now);
  deps.log.info(
    { sweepId: request.id, runningId: run.runningId },
    "reconcile sweep skipped: another is running",
  );
  return "done";
}
