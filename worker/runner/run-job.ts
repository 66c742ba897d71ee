/**
 * The processor of one delivery of an operation job: parse, fence, run the unfinished steps in order,
 * and end the delivery in exactly one of: completed, parked (DelayedError), failed for good
 * (UnrecoverableError), or thrown for the broker to retry (unexpected infrastructure errors only).
 */
import { DelayedError, type Job, UnrecoverableError } from "bunqueue/client";
import { LeaseLostError, ShutdownError } from "../../jobs/errors.ts";
import type { JobDefinition } from "../../jobs/step.ts";
import { type OperationPayload, operationPayloadSchema } from "../../queue/payload.ts";
import { findPendingSignal } from "../../queue/signals.ts";
import { compensateFinishedSteps } from "./compensate.ts";
import type { RunnerDeps } from "./deps.ts";
import { executeStep, type StepRun } from "./execute-step.ts";
import { startHeartbeat } from "./heartbeat.ts";
import { acquireLease, fence, releaseLease } from "./lease.ts";
import {
  loadOperation,
  markFailed,
  markFailing,
  markParked,
  markRunning,
  markSucceeded,
  type OperationRecord,
} from "./operation-state.ts";
import { type ParkReason, parkJob } from "./park.ts";
import { forgetStepsAfter, loadStepHistory } from "./step-store.ts";

const defaultInstanceStatus = { running: "running", succeeded: "ready", failed: "failed" } as const;

export interface OperationResult {
  operationId: string;
  status: "succeeded";
}

export async function runOperationJob(
  deps: RunnerDeps,
  jobs: ReadonlyMap<string, JobDefinition>,
  job: Job<unknown>,
): Promise<OperationResult> {
  const { payload, definition, op: delivered } = resolveDelivery(deps, jobs, job);
  if (hasEnded(delivered)) return settleEnded(delivered);
  const owner = `${deps.workerId}/${job.token}`;
  const acquired = acquireLease(deps.db, delivered.instanceId, owner, deps.leaseTtlMs, deps.now());
  if ("heldUntil" in acquired) {
    deps.metrics.jobFinished(delivered.operation, "lease_busy");
    deps.log.info(
      { instanceId: delivered.instanceId, jobId: job.id, operation: delivered.operation },
      "instance lease busy; job parked",
    );
    const delayMs = Math.min(Math.max(acquired.heldUntil - deps.now(), 0), deps.leaseBusyDelayMs);
    throw await parkJob(job, payload, { reason: "lease_busy", step: null, until: deps.now() + delayMs });
  }
  // Another operation may have ended this one (a deprovision cancels a parked provision) while we waited.
  const op = loadOperation(deps.db, delivered.id) ?? delivered;
  if (hasEnded(op)) {
    releaseLease(deps.db, acquired.lease);
    return settleEnded(op);
  }
  const heartbeat = startHeartbeat(deps, job, acquired.lease);
  const run: StepRun = {
    op,
    jobId: job.id,
    lease: acquired.lease,
    leaseLost: heartbeat.leaseLost,
    history: { finished: new Map(), failedAttempts: new Map() },
  };
  try {
    return await driveSteps(deps, definition, job, payload, run);
  } catch (err) {
    if (err instanceof DelayedError || err instanceof UnrecoverableError) throw err;
    if (err instanceof ShutdownError) {
      // Shutdown cut a compensation short: hand the job back at once so another worker finishes the rollback.
      throw await park(deps, job, payload, run, "interrupted", op.errorStep, deps.now());
    }
    if (err instanceof LeaseLostError) throw await parkAfterLeaseLost(deps, job, payload, op);
    releaseLease(deps.db, acquired.lease);
    throw err;
  } finally {
    heartbeat.stop();
  }
}

function hasEnded(op: OperationRecord): boolean {
  return op.status === "succeeded" || op.status === "failed";
}

/** A late duplicate delivery of an operation that already ended (or was cancelled) changes nothing. */
function settleEnded(op: OperationRecord): OperationResult {
  if (op.status === "succeeded") return { operationId: op.id, status: "succeeded" };
  throw new UnrecoverableError(`operation ${op.id} already failed: ${op.errorMessage}`);
}

/** Parses the payload and finds its job definition and operation record; anything missing is unrecoverable. */
function resolveDelivery(deps: RunnerDeps, jobs: ReadonlyMap<string, JobDefinition>, job: Job<unknown>) {
  // These deliveries never touch an instance, so this line is the only trace they leave.
  const refuse = (message: string) => {
    deps.log.error({ jobId: job.id, name: job.name }, `job refused: ${message}`);
    return new UnrecoverableError(message);
  };
  const parsed = operationPayloadSchema.safeParse(job.data);
  if (!parsed.success) throw refuse(`invalid job payload: ${parsed.error.issues[0]?.message}`);
  const payload = parsed.data;
  const definition = jobs.get(payload.operation);
  if (!definition) throw refuse(`no job definition for operation ${payload.operation}`);
  const op = loadOperation(deps.db, payload.operationId);
  if (!op) throw refuse(`operation ${payload.operationId} is not recorded`);
  return { payload, definition, op };
}

/** Another holder fenced us out: write nothing more and come back once its lease can have expired. */
async function parkAfterLeaseLost(
  deps: RunnerDeps,
  job: Job<unknown>,
  payload: OperationPayload,
  op: OperationRecord,
): Promise<Error> {
  deps.metrics.jobFinished(op.operation, "lease_lost");
  deps.log.warn(
    { instanceId: op.instanceId, jobId: job.id, operation: op.operation },
    "instance lease lost; job parked",
  );
  try {
    return await parkJob(job, payload, {
      reason: "lease_lost",
      step: null,
      until: deps.now() + deps.leaseTtlMs,
    });
  } catch (err) {
    // A stale delivery cannot move a job whose broker lock it no longer holds; the live delivery owns it.
    deps.log.warn({ err, jobId: job.id }, "stale delivery could not park its job");
    return new UnrecoverableError("stale delivery stopped after losing the instance lease");
  }
}

async function driveSteps(
  deps: RunnerDeps,
  definition: JobDefinition,
  job: Job<unknown>,
  payload: OperationPayload,
  run: StepRun,
): Promise<OperationResult> {
  const { db, now } = deps;
  const { op, lease } = run;
  const status = definition.instanceStatus ?? defaultInstanceStatus;
  fence(db, lease, now(), (tx) => markRunning(tx, op, status.running, now()));
  const stepOrder = definition.steps.map((step) => step.name);
  run.history = loadStepHistory(db, op.id, op.run, stepOrder);
  if (op.errorStep !== null && op.errorCode !== null) {
    // A previous delivery decided the failure and died during compensation: finish the rollback.
    return failOperation(deps, definition, run, {
      step: op.errorStep,
      code: op.errorCode,
      message: op.errorMessage ?? "",
    });
  }
  for (const step of definition.steps) {
    if (run.history.finished.has(step.name)) continue;
    forgetStepsAfter(run.history.finished, stepOrder, step.name);
    const outcome = await executeStep(deps, run, step);
    switch (outcome.kind) {
      case "succeeded":
        run.history.finished.set(step.name, outcome.output ?? null);
        continue;
      case "retry":
        throw await park(deps, job, payload, run, "backoff", step.name, now() + outcome.delayMs);
      case "interrupted":
        throw await park(deps, job, payload, run, "interrupted", step.name, now());
      case "wait":
        throw await parkForSignal(deps, job, payload, run, step.name, outcome);
      case "failed":
        return failOperation(deps, definition, run, {
          step: step.name,
          code: outcome.code,
          message: outcome.message,
        });
    }
  }
  fence(db, lease, now(), (tx) => markSucceeded(tx, op, status.succeeded, now()));
  releaseLease(db, lease);
  deps.metrics.jobFinished(op.operation, "succeeded");
  return { operationId: op.id, status: "succeeded" };
}

async function park(
  deps: RunnerDeps,
  job: Job<unknown>,
  payload: OperationPayload,
  run: StepRun,
  reason: ParkReason,
  step: string | null,
  until: number,
): Promise<DelayedError> {
  fence(deps.db, run.lease, deps.now(), (tx) => markParked(tx, run.op, undefined, deps.now()));
  const delayed = await parkJob(job, payload, { reason, step, until });
  releaseLease(deps.db, run.lease);
  deps.metrics.jobFinished(run.op.operation, reason === "interrupted" ? "interrupted" : "parked");
  return delayed;
}

/** Parks until the deadline, then re-checks: a signal that landed meanwhile found nothing to promote. */
async function parkForSignal(
  deps: RunnerDeps,
  job: Job<unknown>,
  payload: OperationPayload,
  run: StepRun,
  step: string,
  wait: { signal: string; deadline: number },
): Promise<DelayedError> {
  const { db, now } = deps;
  fence(db, run.lease, now(), (tx) => markParked(tx, run.op, wait, now()));
  const delayed = await parkJob(job, payload, { reason: "wait", step, until: wait.deadline });
  releaseLease(db, run.lease);
  if (findPendingSignal(db, run.op.instanceId, wait.signal, run.op.createdAt)) await job.promote();
  deps.metrics.jobFinished(run.op.operation, "parked");
  return delayed;
}

async function failOperation(
  deps: RunnerDeps,
  definition: JobDefinition,
  run: StepRun,
  error: { step: string; code: string; message: string },
): Promise<never> {
  const { db, now } = deps;
  fence(db, run.lease, now(), (tx) => markFailing(tx, run.op, error, now()));
  await compensateFinishedSteps(deps, run, definition);
  const failed = definition.instanceStatus?.failed ?? defaultInstanceStatus.failed;
  const failedStatus = typeof failed === "function" ? failed(error) : failed;
  fence(db, run.lease, now(), (tx) => markFailed(tx, run.op, failedStatus, error, now()));
  releaseLease(db, run.lease);
  deps.metrics.jobFinished(run.op.operation, "failed");
  deps.log.error(
    { instanceId: run.op.instanceId, jobId: run.jobId, operation: run.op.operation, ...error },
    "operation failed",
  );
  throw new UnrecoverableError(`${error.step} failed (${error.code}): ${error.message}`);
}
