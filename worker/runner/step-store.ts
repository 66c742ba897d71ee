/**
 * step_runs: one row per attempt (or compensation) of a step. The runner decides from these rows which
 * steps are finished, which attempt comes next and what earlier steps produced.
 *
 * Rule for re-runs: a step counts as finished from its succeeded run until a later failed run or a later
 * finished compensation (succeeded or failed) of it. So a compensated step runs again on the next run;
 * steps are idempotent, so re-running one whose undo failed adopts what it left behind. And once a step
 * runs again, every step after it in the job is unfinished too: their outputs came from what it made before
 * (a re-created server needs its own callback, not the old one's host key). Interrupted rows change nothing
 * else.
 */
import { and, asc, eq, sql } from "drizzle-orm";
import type { Db } from "../../db/index.ts";
import { param, preparedPerConnection } from "../../db/prepared.ts";
import { type StepRunKind, type StepRunStatus, stepRuns } from "../../db/schema.ts";

export interface StepHistory {
  /** Output of every finished step, by name (undefined output is stored as null). */
  finished: Map<string, unknown>;
  /** Failed run attempts per step in the given run. */
  failedAttempts: Map<string, number>;
}

/** Every attempt and compensation of an operation, oldest first. */
const runsOf = preparedPerConnection((db: Db) =>
  db
    .select({
      step: stepRuns.step,
      kind: stepRuns.kind,
      run: stepRuns.run,
      status: stepRuns.status,
      output: stepRuns.output,
    })
    .from(stepRuns)
    .where(eq(stepRuns.operationId, sql.placeholder("operationId")))
    .orderBy(asc(stepRuns.id))
    .prepare(),
);

/** `stepOrder`: the job's step names in order. */
export function loadStepHistory(
  db: Db,
  operationId: string,
  run: number,
  stepOrder: readonly string[],
): StepHistory {
  const rows = runsOf(db).all({ operationId });
  const finished = new Map<string, unknown>();
  const failedAttempts = new Map<string, number>();
  for (const row of rows) {
    if (row.kind === "run") forgetStepsAfter(finished, stepOrder, row.step);
    if (row.kind === "run" && row.status === "succeeded") {
      finished.set(row.step, row.output === null ? null : JSON.parse(row.output));
    } else if (row.status === "failed" || (row.kind === "compensate" && row.status === "succeeded")) {
      finished.delete(row.step);
    }
    if (row.kind === "run" && row.run === run && row.status === "failed") {
      failedAttempts.set(row.step, (failedAttempts.get(row.step) ?? 0) + 1);
    }
  }
  return { finished, failedAttempts };
}

/** A step runs again: the steps after it in `stepOrder` are no longer finished. */
export function forgetStepsAfter(
  finished: Map<string, unknown>,
  stepOrder: readonly string[],
  step: string,
): void {
  for (const later of stepOrder.slice(stepOrder.indexOf(step) + 1)) finished.delete(later);
}

export interface AttemptStart {
  rowId: number;
  attempt: number;
  /** True when this resumes an attempt that was parked on a durable wait. */
  resumed: boolean;
}

/** Rows of earlier attempts of one step in one run, oldest first. */
const attemptsOf = preparedPerConnection((db: Db) =>
  db
    .select({ id: stepRuns.id, attempt: stepRuns.attempt, status: stepRuns.status })
    .from(stepRuns)
    .where(
      and(
        eq(stepRuns.operationId, sql.placeholder("operationId")),
        eq(stepRuns.run, sql.placeholder("run")),
        eq(stepRuns.step, sql.placeholder("step")),
        eq(stepRuns.kind, sql.placeholder("kind")),
      ),
    )
    .orderBy(asc(stepRuns.id))
    .prepare(),
);

const insertAttempt = preparedPerConnection((db: Db) =>
  db
    .insert(stepRuns)
    .values({
      instanceId: sql.placeholder("instanceId"),
      operationId: sql.placeholder("operationId"),
      run: sql.placeholder("run"),
      step: sql.placeholder("step"),
      kind: sql.placeholder("kind"),
      attempt: sql.placeholder("attempt"),
      status: "running",
      startedAt: sql.placeholder("now"),
    })
    .returning({ id: stepRuns.id })
    .prepare(),
);

/**
 * Opens the row of the next attempt of `step`: resumes a parked (waiting) attempt, marks an abandoned
 * running one (its worker died) as interrupted, else inserts attempt = failed attempts + 1.
 */
export function beginAttempt(
  tx: Db,
  ids: { instanceId: string; operationId: string; run: number; step: string; kind: StepRunKind },
  failedAttempts: number,
  now: number,
): AttemptStart {
  const open = attemptsOf(tx)
    .all(ids)
    .filter((row) => row.status === "waiting" || row.status === "running");
  for (const row of open) {
    if (row.status === "waiting") {
      tx.update(stepRuns).set({ status: "running" }).where(eq(stepRuns.id, row.id)).run();
      return { rowId: row.id, attempt: row.attempt, resumed: true };
    }
    tx.update(stepRuns)
      .set({
        status: "interrupted",
        finishedAt: now,
        errorCode: "abandoned",
        errorMessage: "worker lost mid-step",
      })
      .where(eq(stepRuns.id, row.id))
      .run();
  }
  const attempt = failedAttempts + 1;
  const row = insertAttempt(tx).get({ ...ids, attempt, now });
  if (!row) throw new Error(`no step_runs row was returned for ${ids.operationId} ${ids.step}`);
  return { rowId: row.id, attempt, resumed: false };
}

export interface AttemptResult {
  status: Exclude<StepRunStatus, "running">;
  durationMs: number;
  errorCode?: string;
  errorMessage?: string;
  output?: unknown;
}

const closeAttempt = preparedPerConnection((db: Db) =>
  db
    .update(stepRuns)
    .set({
      status: param("status"),
      finishedAt: param("finishedAt"),
      durationMs: param("durationMs"),
      errorCode: param("errorCode"),
      errorMessage: param("errorMessage"),
      output: param("output"),
    })
    .where(eq(stepRuns.id, sql.placeholder("rowId")))
    .prepare(),
);

/** Closes an attempt's row; a waiting attempt stays open (no finished_at) until it resumes. */
export function finishAttempt(tx: Db, rowId: number, result: AttemptResult, now: number): void {
  closeAttempt(tx).run({
    rowId,
    status: result.status,
    finishedAt: result.status === "waiting" ? null : now,
    durationMs: result.durationMs,
    errorCode: result.errorCode ?? null,
    errorMessage: result.errorMessage ?? null,
    output: result.output === undefined ? null : JSON.stringify(result.output),
  });
}
