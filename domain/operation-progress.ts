/**
 * What an operation is doing, read from the app database the runner writes (operations, step_runs), so
 * a process outside the worker can show live progress and the phase timings.
 */
import { asc, eq } from "drizzle-orm";
import type { Db } from "../db/index.ts";
import { operations, type StepRunKind, type StepRunStatus, stepRuns } from "../db/schema.ts";

/** One step attempt (or compensation) as the runner recorded it. */
export interface StepRunView {
  id: number;
  run: number;
  step: string;
  kind: StepRunKind;
  attempt: number;
  status: StepRunStatus;
  durationMs: number | null;
  errorCode: string | null;
  errorMessage: string | null;
  startedAt: number;
  finishedAt: number | null;
}

/** A step event with the time since the step (this run, this kind) first started, e.g. before a durable wait. */
export interface StepEvent extends StepRunView {
  /** finishedAt minus the first attempt's start, in ms; null while unfinished. */
  elapsedMs: number | null;
}

/** One step's share of an operation's last run. */
export interface PhaseTiming {
  step: string;
  attempts: number;
  /** From the first attempt's start to the last attempt's end, in ms. */
  durationMs: number;
}

export interface OperationSummary {
  status: string;
  errorStep: string | null;
  errorMessage: string | null;
  phases: PhaseTiming[];
  /** Request (operation created) to finish, in ms; null while it runs. */
  totalMs: number | null;
}

/** Returns, on each call, the step runs of the operation that are new or changed status since the last call. */
export function watchStepRuns(db: Db, operationId: string): () => StepEvent[] {
  const seen = new Map<number, StepRunStatus>();
  const firstStart = new Map<string, number>();
  return () => {
    const changed: StepEvent[] = [];
    for (const row of readStepRuns(db, operationId)) {
      const key = `${row.run}:${row.kind}:${row.step}`;
      const startedAt = Math.min(firstStart.get(key) ?? row.startedAt, row.startedAt);
      firstStart.set(key, startedAt);
      if (seen.get(row.id) === row.status) continue;
      seen.set(row.id, row.status);
      changed.push({ ...row, elapsedMs: row.finishedAt === null ? null : row.finishedAt - startedAt });
    }
    return changed;
  };
}

/** The operation's status and, for its last run, each step's timing in execution order. */
export function summarizeOperation(db: Db, operationId: string): OperationSummary {
  const operation = db.select().from(operations).where(eq(operations.id, operationId)).get();
  if (!operation) throw new Error(`operation ${operationId} does not exist`);
  const rows = db
    .select()
    .from(stepRuns)
    .where(eq(stepRuns.operationId, operationId))
    .orderBy(asc(stepRuns.id))
    .all()
    .filter((row) => row.run === operation.run && row.kind === "run");
  const phases = new Map<string, { attempts: Set<number>; startedAt: number; finishedAt: number }>();
  for (const row of rows) {
    const phase = phases.get(row.step) ?? { attempts: new Set(), startedAt: row.startedAt, finishedAt: 0 };
    phase.attempts.add(row.attempt);
    phase.finishedAt = Math.max(phase.finishedAt, row.finishedAt ?? row.startedAt);
    phases.set(row.step, phase);
  }
  return {
    status: operation.status,
    errorStep: operation.errorStep,
    errorMessage: operation.errorMessage,
    phases: [...phases].map(([step, phase]) => ({
      step,
      attempts: phase.attempts.size,
      durationMs: phase.finishedAt - phase.startedAt,
    })),
    totalMs: operation.finishedAt === null ? null : operation.finishedAt - operation.createdAt,
  };
}

function readStepRuns(db: Db, operationId: string): StepRunView[] {
  return db
    .select({
      id: stepRuns.id,
      run: stepRuns.run,
      step: stepRuns.step,
      kind: stepRuns.kind,
      attempt: stepRuns.attempt,
      status: stepRuns.status,
      durationMs: stepRuns.durationMs,
      errorCode: stepRuns.errorCode,
      errorMessage: stepRuns.errorMessage,
      startedAt: stepRuns.startedAt,
      finishedAt: stepRuns.finishedAt,
    })
    .from(stepRuns)
    .where(eq(stepRuns.operationId, operationId))
    .orderBy(asc(stepRuns.id))
    .all();
}
