/** Writes of an operation's and its instance's state; all run inside fence(), so a stale holder writes nothing. */
import { eq, inArray, sql } from "drizzle-orm";
import type { Db } from "../../db/index.ts";
import { param, preparedPerConnection } from "../../db/prepared.ts";
import { instances, operations, signals } from "../../db/schema.ts";

export interface OperationRecord {
  id: string;
  instanceId: string;
  operation: string;
  status: (typeof operations.$inferSelect)["status"];
  run: number;
  waitSignal: string | null;
  waitDeadline: number | null;
  errorStep: string | null;
  errorCode: string | null;
  errorMessage: string | null;
  createdAt: number;
}

const operationById = preparedPerConnection((db: Db) =>
  db
    .select({
      id: operations.id,
      instanceId: operations.instanceId,
      operation: operations.operation,
      status: operations.status,
      run: operations.run,
      waitSignal: operations.waitSignal,
      waitDeadline: operations.waitDeadline,
      errorStep: operations.errorStep,
      errorCode: operations.errorCode,
      errorMessage: operations.errorMessage,
      createdAt: operations.createdAt,
    })
    .from(operations)
    .where(eq(operations.id, sql.placeholder("operationId")))
    .prepare(),
);

export function loadOperation(db: Db, operationId: string): OperationRecord | undefined {
  return operationById(db).get({ operationId });
}

const setOperationRunning = preparedPerConnection((db: Db) =>
  db
    .update(operations)
    .set({ status: "running", updatedAt: param("now") })
    .where(eq(operations.id, sql.placeholder("operationId")))
    .prepare(),
);

const setInstanceWorking = preparedPerConnection((db: Db) =>
  db
    .update(instances)
    .set({
      status: param("status"),
      errorStep: null,
      errorCode: null,
      errorMessage: null,
      updatedAt: param("now"),
    })
    .where(eq(instances.id, sql.placeholder("instanceId")))
    .prepare(),
);

export function markRunning(tx: Db, op: OperationRecord, instanceStatus: string, now: number): void {
  setOperationRunning(tx).run({ operationId: op.id, now });
  setInstanceWorking(tx).run({ instanceId: op.instanceId, status: instanceStatus, now });
}

const setCurrentStep = preparedPerConnection((db: Db) =>
  db
    .update(instances)
    .set({ currentStep: param("step"), updatedAt: param("now") })
    .where(eq(instances.id, sql.placeholder("instanceId")))
    .prepare(),
);

export function markCurrentStep(tx: Db, op: OperationRecord, step: string | null, now: number): void {
  setCurrentStep(tx).run({ instanceId: op.instanceId, step, now });
}

/** Parks the operation; `wait` names the signal a durable wait expects (cleared for a backoff park). */
export function markParked(
  tx: Db,
  op: OperationRecord,
  wait: { signal: string; deadline: number } | undefined,
  now: number,
): void {
  tx.update(operations)
    .set({
      status: "parked",
      waitSignal: wait?.signal ?? null,
      waitDeadline: wait?.deadline ?? null,
      updatedAt: now,
    })
    .where(eq(operations.id, op.id))
    .run();
}

const clearWait = preparedPerConnection((db: Db) =>
  db
    .update(operations)
    .set({ waitSignal: null, waitDeadline: null, updatedAt: param("now") })
    .where(eq(operations.id, sql.placeholder("operationId")))
    .prepare(),
);

/** Ends a durable wait: clears the wait and consumes the signals the step used. */
export function endWait(
  tx: Db,
  op: OperationRecord,
  consumedSignalIds: readonly number[],
  now: number,
): void {
  clearWait(tx).run({ operationId: op.id, now });
  if (consumedSignalIds.length > 0) {
    tx.update(signals)
      .set({ consumedAt: now })
      .where(inArray(signals.id, [...consumedSignalIds]))
      .run();
  }
}

/** Records that the operation is failing at `step` (before compensations run, so a crash resumes them). */
export function markFailing(
  tx: Db,
  op: OperationRecord,
  error: { step: string; code: string; message: string },
  now: number,
): void {
  tx.update(operations)
    .set({ errorStep: error.step, errorCode: error.code, errorMessage: error.message, updatedAt: now })
    .where(eq(operations.id, op.id))
    .run();
}

export function markFailed(
  tx: Db,
  op: OperationRecord,
  instanceStatus: string,
  error: { step: string; code: string; message: string },
  now: number,
): void {
  tx.update(operations)
    .set({ status: "failed", waitSignal: null, waitDeadline: null, finishedAt: now, updatedAt: now })
    .where(eq(operations.id, op.id))
    .run();
  tx.update(instances)
    .set({
      status: instanceStatus,
      currentStep: null,
      errorStep: error.step,
      errorCode: error.code,
      errorMessage: error.message,
      updatedAt: now,
    })
    .where(eq(instances.id, op.instanceId))
    .run();
}

const setOperationSucceeded = preparedPerConnection((db: Db) =>
  db
    .update(operations)
    .set({ status: "succeeded", finishedAt: param("now"), updatedAt: param("now") })
    .where(eq(operations.id, sql.placeholder("operationId")))
    .prepare(),
);

const setInstanceDone = preparedPerConnection((db: Db) =>
  db
    .update(instances)
    .set({ status: param("status"), currentStep: null, updatedAt: param("now") })
    .where(eq(instances.id, sql.placeholder("instanceId")))
    .prepare(),
);

// "ready" is the state customers wait for; stamping it here keeps ready_at exact.
const setInstanceReady = preparedPerConnection((db: Db) =>
  db
    .update(instances)
    .set({ status: "ready", currentStep: null, updatedAt: param("now"), readyAt: param("now") })
    .where(eq(instances.id, sql.placeholder("instanceId")))
    .prepare(),
);

export function markSucceeded(tx: Db, op: OperationRecord, instanceStatus: string, now: number): void {
  setOperationSucceeded(tx).run({ operationId: op.id, now });
  if (instanceStatus === "ready") setInstanceReady(tx).run({ instanceId: op.instanceId, now });
  else setInstanceDone(tx).run({ instanceId: op.instanceId, status: instanceStatus, now });
}
