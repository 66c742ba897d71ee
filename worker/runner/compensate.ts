/**
 * Saga rollback after a final failure: undo the finished steps in reverse order. Each compensation is
 * recorded in step_runs (kind "compensate") and tried a bounded number of times; one that still fails is
 * logged at error level and the rollback goes on with the others, so one stuck undo does not block the rest.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { errorCodeOf, errorMessageOf, InvalidJobError, ShutdownError } from "../../jobs/errors.ts";
import type { JobDefinition, Step } from "../../jobs/step.ts";
import { backoffDelayMs } from "./backoff.ts";
import { runBounded } from "./bounded-run.ts";
import type { RunnerDeps } from "./deps.ts";
import { report, type StepRun } from "./execute-step.ts";
import { fence } from "./lease.ts";
import { outputReader } from "./step-outputs.ts";
import { beginAttempt, finishAttempt } from "./step-store.ts";

/** Tries per compensation; the step's own policy may allow fewer. */
const maxCompensationAttempts = 3;

export async function compensateFinishedSteps(
  deps: RunnerDeps,
  run: StepRun,
  job: JobDefinition,
): Promise<void> {
  const finished = job.steps.filter((step) => run.history.finished.has(step.name));
  for (const step of finished.reverse()) {
    if (!step.compensate) continue;
    await compensateStep(deps, run, step, step.compensate);
    run.history.finished.delete(step.name);
  }
}

async function compensateStep(
  deps: RunnerDeps,
  run: StepRun,
  step: Step,
  compensate: NonNullable<Step["compensate"]>,
): Promise<void> {
  const attempts = Math.min(maxCompensationAttempts, Math.max(1, step.retry.attempts));
  for (let failed = 0; failed < attempts; failed++) {
    const last = failed + 1 >= attempts;
    if (await tryCompensation(deps, run, { step, compensate, failedBefore: failed, last })) return;
    if (!last) {
      await sleep(backoffDelayMs(step.retry, failed + 1, deps.random), undefined, {
        signal: deps.shutdown,
      }).catch(() => {
        throw new ShutdownError();
      });
    }
  }
}

interface CompensationTry {
  step: Step;
  compensate: NonNullable<Step["compensate"]>;
  failedBefore: number;
  last: boolean;
}

/** One recorded, reported try; true when it succeeded. Throws ShutdownError when shutdown cut it short. */
async function tryCompensation(deps: RunnerDeps, run: StepRun, current: CompensationTry): Promise<boolean> {
  const { db, now } = deps;
  const { op } = run;
  const { step } = current;
  const ids = {
    instanceId: op.instanceId,
    operationId: op.id,
    run: op.run,
    step: step.name,
    kind: "compensate" as const,
  };
  const start = fence(db, run.lease, now(), (tx) => beginAttempt(tx, ids, current.failedBefore, now()));
  const log = deps.log.child({
    instanceId: op.instanceId,
    jobId: run.jobId,
    operation: op.operation,
    step: step.name,
    attempt: start.attempt,
    compensation: true,
  });
  const startedAt = now();
  try {
    await runBounded(step.name, step.timeoutMs, [deps.shutdown, run.leaseLost], (signal) =>
      current.compensate({
        instanceId: op.instanceId,
        jobId: run.jobId,
        attempt: start.attempt,
        signal,
        log,
        waitFor: refuseWait,
        ...outputReader(run.history.finished, step.name),
      }),
    );
    const durationMs = now() - startedAt;
    // The resource is undone, the undo not yet recorded: the rollback's resumption must not trip on it.
    deps.crash?.(`${op.operation}.${step.name}.undone`);
    fence(db, run.lease, now(), (tx) =>
      finishAttempt(tx, start.rowId, { status: "succeeded", durationMs }, now()),
    );
    report(log, "compensated", durationMs, undefined);
    return true;
  } catch (err) {
    const durationMs = now() - startedAt;
    const interrupted = deps.shutdown.aborted;
    const errorCode = interrupted ? "shutdown" : errorCodeOf(err);
    const status = interrupted ? "interrupted" : "failed";
    fence(db, run.lease, now(), (tx) =>
      finishAttempt(
        tx,
        start.rowId,
        { status, durationMs, errorCode, errorMessage: errorMessageOf(err) },
        now(),
      ),
    );
    if (interrupted) throw new ShutdownError();
    report(log, current.last ? "compensation_failed" : "retrying", durationMs, errorCode);
    if (current.last) log.error({ err }, "compensation failed; its resource may need manual cleanup");
    return false;
  }
}

async function refuseWait(): Promise<never> {
  throw new InvalidJobError("a compensation cannot wait for a signal");
}
