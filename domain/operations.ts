/** The operation records that make enqueueing idempotent across history (the broker only dedupes live jobs). */
import { and, desc, eq, inArray, max, sql } from "drizzle-orm";
import type { Db } from "../db/index.ts";
import { preparedPerConnection } from "../db/prepared.ts";
import { instances, type OperationStatus, operations } from "../db/schema.ts";
import { InvalidJobError } from "../jobs/errors.ts";
import { operationJobId } from "../queue/payload.ts";

/** Statuses of an operation the runner has not finished: a new request joins it instead of starting another. */
export const activeOperationStatuses: readonly OperationStatus[] = ["queued", "running", "parked"];

export interface OpenedOperation {
  /** Operation id, which is also the broker job id. */
  id: string;
  created: boolean;
}

const p = sql.placeholder;

const statements = preparedPerConnection((db) => ({
  insertInstanceIfMissing: db
    .insert(instances)
    .values({ id: p("instanceId"), createdAt: p("now"), updatedAt: p("now") })
    .onConflictDoNothing()
    .prepare(),
  activeOperation: db
    .select({ id: operations.id })
    .from(operations)
    .where(
      and(
        eq(operations.instanceId, p("instanceId")),
        eq(operations.operation, p("operation")),
        inArray(operations.status, [...activeOperationStatuses]),
      ),
    )
    .prepare(),
  lastSeq: db
    .select({ seq: max(operations.seq) })
    .from(operations)
    .where(and(eq(operations.instanceId, p("instanceId")), eq(operations.operation, p("operation"))))
    .prepare(),
  insertOperation: db
    .insert(operations)
    .values({
      id: p("id"),
      instanceId: p("instanceId"),
      operation: p("operation"),
      seq: p("seq"),
      status: "queued",
      run: 1,
      createdAt: p("now"),
      updatedAt: p("now"),
    })
    .prepare(),
}));

/**
 * Decides, inside the transaction that opens the operation, whether it may be: throws to refuse (nothing
 * is recorded then). What it writes with `db` belongs to the same transaction.
 */
export type OperationAdmission = (opened: OpenedOperation) => void;

/**
 * Returns the active operation of this kind on the instance, or records a new one (seq + 1). Creates the
 * instance row if it does not exist yet. One IMMEDIATE transaction, so concurrent requests agree; `admit`
 * runs in it, so what it checks cannot change before the operation is recorded.
 */
export function openOperation(
  db: Db,
  operation: string,
  instanceId: string,
  now: number,
  admit?: OperationAdmission,
): OpenedOperation {
  const prepared = statements(db);
  return db.transaction(
    () => {
      prepared.insertInstanceIfMissing.run({ instanceId, now });
      const active = prepared.activeOperation.get({ instanceId, operation });
      let opened: OpenedOperation;
      if (active) opened = { id: active.id, created: false };
      else {
        const seq = (prepared.lastSeq.get({ instanceId, operation })?.seq ?? 0) + 1;
        opened = { id: operationJobId(operation, instanceId, seq), created: true };
        prepared.insertOperation.run({ id: opened.id, instanceId, operation, seq, now });
      }
      admit?.(opened);
      return opened;
    },
    { behavior: "immediate" },
  );
}

/**
 * Marks the newest operation of this kind on the instance for another run (run + 1, status queued) if it
 * failed; leaves it as it is if it is still active. Returns its id. Throws InvalidJobError when there is
 * nothing to re-run.
 */
export function reopenFailedOperation(db: Db, operation: string, instanceId: string, now: number): string {
  return db.transaction(
    (tx) => {
      const latest = tx
        .select({ id: operations.id, status: operations.status, run: operations.run })
        .from(operations)
        .where(and(eq(operations.instanceId, instanceId), eq(operations.operation, operation)))
        .orderBy(desc(operations.seq))
        .get();
      if (!latest) throw new InvalidJobError(`no ${operation} operation on instance ${instanceId} to re-run`);
      if (activeOperationStatuses.includes(latest.status)) return latest.id;
      if (latest.status !== "failed") {
        throw new InvalidJobError(
          `the latest ${operation} on instance ${instanceId} ${latest.status}; nothing to re-run`,
        );
      }
      tx.update(operations)
        .set({
          status: "queued",
          run: latest.run + 1,
          errorStep: null,
          errorCode: null,
          errorMessage: null,
          finishedAt: null,
          updatedAt: now,
        })
        .where(eq(operations.id, latest.id))
        .run();
      return latest.id;
    },
    { behavior: "immediate" },
  );
}
