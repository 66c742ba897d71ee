/**
 * The `sweeps` rows: one per sweep, queued → running → succeeded | failed. Claiming one is the guard that
 * keeps two sweeps from running at once across every worker process: a conditional write in an IMMEDIATE
 * transaction, so the database, not the broker, decides who sweeps.
 */
import { and, eq, lt, ne } from "drizzle-orm";
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
 * Makes this sweep the running one unless another is running. A running sweep started more than
 * `staleAfterMs` ago is taken to be abandoned by a dead worker and failed first, so a crash never blocks
 * sweeping for good. One IMMEDIATE transaction: two processes claiming at once agree on one winner.
 */
export function claimSweep(db: Db, request: SweepRequest, now: number, staleAfterMs: number): Claim {
  return db.transaction(
    (tx) => {
      tx.update(sweeps)
        .set({
          status: "failed",
          finishedAt: now,
          errorCode: ABANDONED_CODE,
          errorMessage: `still running after ${Math.round(staleAfterMs / 1000)} s: its worker stopped before it finished`,
        })
        .where(and(eq(sweeps.status, "running"), lt(sweeps.startedAt, now - staleAfterMs)))
        .run();
      const own = tx.select({ status: sweeps.status }).from(sweeps).where(eq(sweeps.id, request.id)).get();
      if (own?.status === "succeeded" || own?.status === "failed") return { kind: "finished" };
      if (own?.status === "running") return { kind: "busy", runningId: request.id };
      const running = tx
        .select({ id: sweeps.id })
        .from(sweeps)
        .where(and(eq(sweeps.status, "running"), ne(sweeps.id, request.id)))
        .get();
      if (running) return { kind: "busy", runningId: running.id };
      tx.insert(sweeps)
        .values({ ...request, status: "running", startedAt: now })
        .onConflictDoUpdate({ target: sweeps.id, set: { status: "running", startedAt: now } })
        .run();
      return { kind: "claimed" };
    },
    { behavior: "immediate" },
  );
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

/** Ends the running sweep with what it saw and did. */
export function finishSweep(db: Db, id: string, result: SweepResult, now: number): void {
  db.update(sweeps)
    .set({
      status: result.status,
      finishedAt: now,
      serversSeen: result.serversSeen,
      hetznerRequests: result.hetznerRequests,
      decisions: JSON.stringify(result.decisions),
      errorCode: result.error?.code ?? null,
      errorMessage: result.error?.message ?? null,
    })
    .where(and(eq(sweeps.id, id), eq(sweeps.status, "running")))
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
