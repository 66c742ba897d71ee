/**
 * The `sweeps` rows: one per sweep, queued → running → succeeded | failed. Claiming one is the guard that
 * keeps two sweeps from running at once across every worker process: a conditional write in an IMMEDIATE
 * transaction, so the database, not the broker, decides who sweeps. A running sweep holds a lease its
 * owner renews; once it lapses (the worker died) the sweep's own redelivery takes it over, and any other
 * sweep fails it as abandoned, so a crash blocks sweeping for one lease period at most.
 */
import { and, eq, isNull, lt, ne, or, type SQL } from "drizzle-orm";
import type { Db } from "../../db/index.ts";
import { sweeps } from "../../db/schema.ts";
import type { Decision } from "./types.ts";

/** Who asked for the sweep: the broker's schedule or an operator (`POST /v1/ops/reconcile`). */
export type SweepTrigger = "schedule" | "operator";

/** `planned` in a dry run; `held` while a restore's hold is open (restore-hold.ts); else `applied` or `failed`. */
export type DecisionOutcome = "planned" | "held" | "applied" | "failed";

export type RecordedDecision = Decision & { outcome: DecisionOutcome; error?: string };

/** What identifies a sweep before it runs. */
export interface SweepRequest {
  /** Also the broker job id. */
  id: string;
  trigger: SweepTrigger;
  dryRun: boolean;
  /** When it was asked for, epoch ms. */
  requestedAt: number;
  /** An operator's `ops reconcile --apply`: release a restore's hold first, then sweep in full. */
  releaseHold?: boolean;
}

/** `error_code` of a sweep that did nothing because another one was running; its status is `succeeded`. */
export const SKIPPED_CODE = "skipped";
/** `error_code` of a running sweep whose worker went away (superseded by the next claim). */
const ABANDONED_CODE = "abandoned";

/** Who claims a sweep and for how long its claim holds without renewal. */
export interface SweepLease {
  /** Unique per delivery of the sweep job. */
  owner: string;
  /** Epoch ms. */
  now: number;
  ttlMs: number;
}

/** A running sweep whose owner stopped renewing its lease (a row without one predates leases). */
function lapsed(now: number): SQL | undefined {
  return or(isNull(sweeps.leaseExpiresAt), lt(sweeps.leaseExpiresAt, now));
}

export type Claim =
  | { kind: "claimed" }
  /** Another sweep (possibly another delivery of this one) is running. */
  | { kind: "busy"; runningId: string }
  /** This sweep already ended: a repeated delivery has nothing to do. */
  | { kind: "finished" };

/** Records an operator's sweep as queued, before its job is added to the broker. */
export function queueSweep(db: Db, request: SweepRequest): void {
  db.insert(sweeps)
    .values({ ...request, status: "queued" })
    .run();
}

/**
 * Makes this sweep the running one unless another is running. Its own row running under a lapsed lease is
 * a delivery whose worker died: taken over (the sweep runs again; observe-decide-apply is idempotent).
 * Another sweep's lapsed one is failed as abandoned first. One IMMEDIATE transaction: two processes
 * claiming at once agree on one winner.
 */
export function claimSweep(db: Db, request: SweepRequest, lease: SweepLease): Claim {
  const { now } = lease;
  const held = { status: "running" as const, owner: lease.owner, leaseExpiresAt: now + lease.ttlMs };
  return db.transaction(
    (tx) => {
      tx.update(sweeps)
        .set({
          status: "failed",
          finishedAt: now,
          owner: null,
          leaseExpiresAt: null,
          errorCode: ABANDONED_CODE,
          errorMessage: "its worker stopped renewing its lease before it finished",
        })
        .where(and(eq(sweeps.status, "running"), ne(sweeps.id, request.id), lapsed(now)))
        .run();
      const own = tx
        .select({ status: sweeps.status, leaseExpiresAt: sweeps.leaseExpiresAt })
        .from(sweeps)
        .where(eq(sweeps.id, request.id))
        .get();
      if (own?.status === "succeeded" || own?.status === "failed") return { kind: "finished" };
      const ownLapsed = own?.leaseExpiresAt === null || (own?.leaseExpiresAt ?? now) < now;
      if (own?.status === "running" && !ownLapsed) return { kind: "busy", runningId: request.id };
      const running = tx
        .select({ id: sweeps.id })
        .from(sweeps)
        .where(and(eq(sweeps.status, "running"), ne(sweeps.id, request.id)))
        .get();
      if (running) return { kind: "busy", runningId: running.id };
      tx.insert(sweeps)
        .values({ ...request, ...held, startedAt: now })
        .onConflictDoUpdate({ target: sweeps.id, set: { ...held, startedAt: now } })
        .run();
      return { kind: "claimed" };
    },
    { behavior: "immediate" },
  );
}

/** Extends the lease of a sweep this owner runs; false when it no longer runs it (taken over, or ended). */
export function renewSweepLease(db: Db, id: string, lease: SweepLease): boolean {
  const row = db
    .update(sweeps)
    .set({ leaseExpiresAt: lease.now + lease.ttlMs })
    .where(and(eq(sweeps.id, id), eq(sweeps.status, "running"), eq(sweeps.owner, lease.owner)))
    .returning({ id: sweeps.id })
    .get();
  return row !== undefined;
}

/** Records a scheduled sweep that found another running: it succeeds having done nothing, and says why. */
export function recordSkippedSweep(db: Db, request: SweepRequest, runningId: string, now: number): void {
  db.insert(sweeps)
    .values({
      ...request,
      status: "succeeded",
      startedAt: now,
      finishedAt: now,
      decisions: "[]",
      errorCode: SKIPPED_CODE,
      errorMessage: `sweep ${runningId} was running; this one did nothing`,
    })
    .onConflictDoNothing()
    .run();
}

export interface SweepResult {
  status: "succeeded" | "failed";
  serversSeen: number | null;
  hetznerRequests: number;
  decisions: readonly RecordedDecision[];
  /** Why the sweep itself failed (listing or reading the state), not an action's failure. */
  error?: { code: string; message: string };
}

/** Ends the running sweep with what it saw and did, unless another owner has taken it over. */
export function finishSweep(db: Db, id: string, owner: string, result: SweepResult, now: number): void {
  db.update(sweeps)
    .set({
      status: result.status,
      owner: null,
      leaseExpiresAt: null,
      finishedAt: now,
      serversSeen: result.serversSeen,
      hetznerRequests: result.hetznerRequests,
      decisions: JSON.stringify(result.decisions),
      errorCode: result.error?.code ?? null,
      errorMessage: result.error?.message ?? null,
    })
    .where(and(eq(sweeps.id, id), eq(sweeps.status, "running"), eq(sweeps.owner, owner)))
    .run();
}

/** Fails an operator's sweep that never reached the broker, so it does not look queued forever. */
export function failQueuedSweep(
  db: Db,
  id: string,
  error: { code: string; message: string },
  now: number,
): void {
  db.update(sweeps)
    .set({ status: "failed", finishedAt: now, errorCode: error.code, errorMessage: error.message })
    .where(and(eq(sweeps.id, id), eq(sweeps.status, "queued")))
    .run();
}
