/** The operator's list of jobs (operations) in one status, e.g. every failed one with where and why. */
import { and, desc, eq } from "drizzle-orm";
import type { Db } from "../../db/index.ts";
import { instances, type OperationStatus, operations } from "../../db/schema.ts";
import { afterKey, isoTime, type Page, type PageRequest, pageOf } from "./page.ts";

/** One operation and its instance; times ISO 8601. */
export interface JobView {
  /** The operation id, which is also the broker job id: what `ops retry` takes. */
  jobId: string;
  operation: string;
  status: string;
  run: number;
  instanceId: string;
  customerId: string | null;
  instanceState: string | null;
  errorStep: string | null;
  errorCode: string | null;
  errorMessage: string | null;
  createdAt: string | null;
  /** When it last changed: for a failed job, when it failed. */
  updatedAt: string | null;
  finishedAt: string | null;
}

export interface JobListRequest extends PageRequest {
  status: OperationStatus;
}

/** Operations in the status, most recently changed first. */
export function listJobs(db: Db, request: JobListRequest): Page<JobView> {
  const rows = db
    .select({
      operation: operations,
      customerId: instances.customerId,
      instanceState: instances.status,
    })
    .from(operations)
    .leftJoin(instances, eq(instances.id, operations.instanceId))
    .where(
      and(
        eq(operations.status, request.status),
        afterKey(operations.updatedAt, operations.id, request.after),
      ),
    )
    .orderBy(desc(operations.updatedAt), desc(operations.id))
    .limit(request.limit + 1)
    .all();
  return pageOf(
    rows,
    request.limit,
    (row) => ({ at: row.operation.updatedAt, id: row.operation.id }),
    ({ operation, customerId, instanceState }): JobView => ({
      jobId: operation.id,
      operation: operation.operation,
      status: operation.status,
      run: operation.run,
      instanceId: operation.instanceId,
      customerId,
      instanceState,
      errorStep: operation.errorStep,
      errorCode: operation.errorCode,
      errorMessage: operation.errorMessage,
      createdAt: isoTime(operation.createdAt),
      updatedAt: isoTime(operation.updatedAt),
      finishedAt: isoTime(operation.finishedAt),
    }),
  );
}
