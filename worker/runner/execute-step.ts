/** One attempt of one step: open its row, run it bounded, record the outcome under the fence, log, count. */
import { errorCodeOf, errorMessageOf, LeaseLostError, ShutdownError } from "../../jobs/errors.ts";
import type { Step } from "../../jobs/step.ts";
import { backoffDelayMs } from "./backoff.ts";
import { runBounded } from "./bounded-run.ts";
import { isPermanentError } from "./classify.ts";
import type { AttemptOutcome, RunnerDeps } from "./deps.ts";
import { createWaitFor, ParkForSignal, type WaitState } from "./durable-wait.ts";
import { fence, type Lease } from "./lease.ts";
import { endWait, markCurrentStep, type OperationRecord } from "./operation-state.ts";
import { checkReturnedOutput, outputReader } from "./step-outputs.ts";
import { type AttemptResult, beginAttempt, finishAttempt, type StepHistory } from "./step-store.ts";

export type StepOutcome =
  | { kind: "succeeded"; output: unknown }
  | { kind: "retry"; delayMs: number }
  | { kind: "wait"; signal: string; deadline: number }
  | { kind: "interrupted" }
  | { kind: "failed"; code: string; message: string };

export interface StepRun {
  op: OperationRecord;
  jobId: string;
  lease: Lease;
  /** Aborts when the heartbeat finds the lease taken over. */
  leaseLost: AbortSignal;
  history: StepHistory;
}

export async function executeStep(deps: RunnerDeps, run: StepRun, step: Step): Promise<StepOutcome> {
  const { op } = run;
  const failedAttempts = run.history.failedAttempts.get(step.name) ?? 0;
  const start = fence(deps.db, run.lease, deps.now(), (tx) => {
    markCurrentStep(tx, op, step.name, deps.now());
    return beginAttempt(
      tx,
      { instanceId: op.instanceId, operationId: op.id, run: op.run, step: step.name, kind: "run" },
      failedAttempts,
      deps.now(),
    );
  });
  const crashPoint = `${op.operation}.${step.name}`;
  deps.crash?.(`${crashPoint}.start`);
  const log = deps.log.child({
    instanceId: op.instanceId,
    jobId: run.jobId,
    operation: op.operation,
    step: step.name,
    attempt: start.attempt,
  });
  const waitState: WaitState = {
    parked:
      start.resumed && op.waitSignal !== null && op.waitDeadline !== null
        ? { signal: op.waitSignal, deadline: op.waitDeadline }
        : undefined,
    consumedSignalIds: [],
  };
  const startedAt = deps.now();
  const [outcome, result] = await attemptStep(deps, run, step, {
    attempt: start.attempt,
    failedAttempts,
    log,
    waitState,
  });
  deps.crash?.(`${crashPoint}.ran`);
  try {
    fence(deps.db, run.lease, deps.now(), (tx) => {
      finishAttempt(tx, start.rowId, result, deps.now());
      if (outcome.kind === "succeeded" || outcome.kind === "failed") {
        endWait(tx, op, waitState.consumedSignalIds, deps.now());
      }
    });
  } catch (err) {
    if (err instanceof LeaseLostError) report(log, "lease_lost", deps.now() - startedAt, err.code);
    throw err;
  }
  deps.crash?.(`${crashPoint}.done`);
  report(log, attemptOutcome(outcome), result.durationMs, result.errorCode);
  return outcome;
}

/** Runs the step once, bounded by its timeout, shutdown and lease loss; throws only LeaseLostError. */
async function attemptStep(
  deps: RunnerDeps,
  run: StepRun,
  step: Step,
  current: { attempt: number; failedAttempts: number; log: RunnerDeps["log"]; waitState: WaitState },
): Promise<[StepOutcome, AttemptResult]> {
  const { op } = run;
  const startedAt = deps.now();
  try {
    const returned = await runBounded(step.name, step.timeoutMs, [deps.shutdown, run.leaseLost], (signal) =>
      step.run({
        instanceId: op.instanceId,
        jobId: run.jobId,
        attempt: current.attempt,
        signal,
        log: current.log,
        waitFor: createWaitFor(deps.db, op, current.waitState, deps.now),
        ...outputReader(run.history.finished, step.name),
        crashPoint: (point) => deps.crash?.(`${op.operation}.${step.name}.${point}`),
      }),
    );
    const output = checkReturnedOutput(step, returned) ?? null;
    return [
      { kind: "succeeded", output },
      { status: "succeeded", durationMs: deps.now() - startedAt, output },
    ];
  } catch (err) {
    const durationMs = deps.now() - startedAt;
    if (run.leaseLost.aborted || err instanceof LeaseLostError) {
      report(current.log, "lease_lost", durationMs, "lease_lost");
      throw new LeaseLostError(op.instanceId);
    }
    // However the step reacted to the abort, an attempt cut short by shutdown is an interruption.
    const cause = deps.shutdown.aborted && !(err instanceof ParkForSignal) ? new ShutdownError() : err;
    return classifyFailure(cause, step, current.attempt, current.failedAttempts, durationMs, deps.random);
  }
}

function classifyFailure(
  err: unknown,
  step: Step,
  attempt: number,
  failedAttempts: number,
  durationMs: number,
  random: () => number,
): [StepOutcome, AttemptResult] {
  if (err instanceof ParkForSignal) {
    return [
      { kind: "wait", signal: err.signalName, deadline: err.deadline },
      { status: "waiting", durationMs },
    ];
  }
  const code = errorCodeOf(err);
  const message = errorMessageOf(err);
  if (err instanceof ShutdownError) {
    return [
      { kind: "interrupted" },
      { status: "interrupted", durationMs, errorCode: code, errorMessage: message },
    ];
  }
  const failed: AttemptResult = { status: "failed", durationMs, errorCode: code, errorMessage: message };
  if (!isPermanentError(err, step.retry) && attempt < step.retry.attempts) {
    return [{ kind: "retry", delayMs: backoffDelayMs(step.retry, failedAttempts + 1, random) }, failed];
  }
  return [{ kind: "failed", code, message }, failed];
}

function attemptOutcome(outcome: StepOutcome): AttemptOutcome {
  switch (outcome.kind) {
    case "succeeded":
      return "succeeded";
    case "retry":
      return "retrying";
    case "wait":
      return "waiting";
    case "interrupted":
      return "interrupted";
    case "failed":
      return "failed";
  }
}

/** The one structured line every attempt ends with; its duration reaches /metrics from step_runs. */
export function report(
  log: RunnerDeps["log"],
  outcome: AttemptOutcome,
  durationMs: number,
  errorCode: string | undefined,
): void {
  const line = { durationMs, outcome, errorCode: errorCode ?? null };
  if (outcome === "failed" || outcome === "compensation_failed" || outcome === "lease_lost")
    log.warn(line, "step attempt");
  else log.info(line, "step attempt");
}
