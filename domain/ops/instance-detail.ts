/**
 * One instance as an operator investigates it: every operation with its steps (attempts, status,
 * durations, errors), every attempt, and a timeline of what happened in time order.
 */
import { asc, eq } from "drizzle-orm";
import type { Db } from "../../db/index.ts";
import { operations } from "../../db/schema.ts";
import { type StepRunView, summarizeOperation, watchStepRuns } from "../operation-progress.ts";
import { findInstance, type InstanceView } from "./instances.ts";
import { isoTime } from "./page.ts";
import { buildTimeline, type TimelineEvent } from "./timeline.ts";

/** One step of an operation's latest run. */
export interface StepView {
  step: string;
  /** Status of its latest attempt. */
  status: string;
  attempts: number;
  /** From the first attempt's start to the last attempt's end, in ms. */
  durationMs: number;
  errorCode: string | null;
  errorMessage: string | null;
}

/** One attempt or compensation, as the runner recorded it; times ISO 8601. */
export interface AttemptView {
  run: number;
  step: string;
  kind: string;
  attempt: number;
  status: string;
  durationMs: number | null;
  errorCode: string | null;
  errorMessage: string | null;
  startedAt: string | null;
  finishedAt: string | null;
}

export interface OperationView {
  /** Also the broker job id. */
  id: string;
  operation: string;
  status: string;
  /** 1, then + 1 per re-run after a failure. */
  run: number;
  errorStep: string | null;
  errorCode: string | null;
  errorMessage: string | null;
  /** Signal a parked step waits for, and until when. */
  waitingFor: string | null;
  waitDeadline: string | null;
  createdAt: string | null;
  finishedAt: string | null;
  /** Request to finish, in ms; null while unfinished. */
  durationMs: number | null;
  steps: StepView[];
  attempts: AttemptView[];
}

export interface InstanceDetail {
  instance: InstanceView;
  /** Oldest first. */
  operations: OperationView[];
  timeline: TimelineEvent[];
}

/** The instance with its history, or undefined when the database does not know it. */
export function instanceDetail(db: Db, instanceId: string): InstanceDetail | undefined {
  const instance = findInstance(db, instanceId);
  if (instance === undefined) return undefined;
  const rows = db
    .select()
    .from(operations)
    .where(eq(operations.instanceId, instanceId))
    .orderBy(asc(operations.createdAt), asc(operations.id))
    .all();
  // A fresh watcher's first call returns every step run of the operation, oldest first.
  const runsByOperation = new Map(rows.map((row) => [row.id, watchStepRuns(db, row.id)()]));
  const views = rows.map((row) => operationView(db, row, runsByOperation.get(row.id) ?? []));
  return { instance, operations: views, timeline: buildTimeline(instance, rows, runsByOperation) };
}

function operationView(
  db: Db,
  row: typeof operations.$inferSelect,
  runs: readonly StepRunView[],
): OperationView {
  const latestRun = runs.filter((run) => run.run === row.run && run.kind === "run");
  const steps = summarizeOperation(db, row.id).phases.map((phase): StepView => {
    const attempts = latestRun.filter((run) => run.step === phase.step);
    const last = attempts.at(-1);
    const failed = attempts.findLast((run) => run.errorCode !== null);
    return {
      ...phase,
      status: last?.status ?? "unknown",
      errorCode: failed?.errorCode ?? null,
      errorMessage: failed?.errorMessage ?? null,
    };
  });
  return {
    id: row.id,
    operation: row.operation,
    status: row.status,
    run: row.run,
    errorStep: row.errorStep,
    errorCode: row.errorCode,
    errorMessage: row.errorMessage,
    waitingFor: row.waitSignal,
    waitDeadline: isoTime(row.waitDeadline),
    createdAt: isoTime(row.createdAt),
    finishedAt: isoTime(row.finishedAt),
    durationMs: row.finishedAt === null ? null : row.finishedAt - row.createdAt,
    steps,
    attempts: runs.map(attemptView),
  };
}

function attemptView(run: StepRunView): AttemptView {
  return {
    run: run.run,
    step: run.step,
    kind: run.kind,
    attempt: run.attempt,
    status: run.status,
    durationMs: run.durationMs,
    errorCode: run.errorCode,
    errorMessage: run.errorMessage,
    startedAt: isoTime(run.startedAt),
    finishedAt: isoTime(run.finishedAt),
  };
}
