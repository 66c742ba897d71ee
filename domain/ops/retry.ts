/**
 * The operator's re-run: by instance id (its newest operation) or by job id. A failed operation resumes as
 * run + 1 from its failed step (JobQueue.retry), so a provision never makes a second server: the same
 * operation, the same server name, and create-server adopts what exists.
 */
import { and, desc, eq } from "drizzle-orm";
import type { Db } from "../../db/index.ts";
import { operations } from "../../db/schema.ts";
import { InvalidJobError, JobError } from "../../jobs/errors.ts";
import type { JobQueue } from "../../queue/queue.ts";
import { activeOperationStatuses } from "../operations.ts";
import { findInstance } from "./instances.ts";

/** Neither an instance nor a job (operation) of that id exists. */
export class UnknownRetryTargetError extends JobError {
  constructor(id: string) {
    super("not_found", `no instance or job ${id}`);
  }
}

/** The operation exists but there is nothing to re-run: it succeeded, or a newer one replaced it. */
export class NothingToRetryError extends JobError {
  constructor(message: string) {
    super("nothing_to_retry", message);
  }
}

/** The re-run is recorded but the broker did not take its job; asking again (or the sweep) re-adds it. */
export class RetryNotQueuedError extends JobError {
  constructor(jobId: string, cause: unknown) {
    super("queue_unavailable", `${jobId} is marked for a re-run but the job queue did not take it`, {
      cause,
    });
  }
}

export interface RetryOutcome {
  instanceId: string;
  /** The operation (and broker job) that runs again. */
  jobId: string;
  operation: string;
  /** `failed`: re-run from its failed step; otherwise it was still active and its broker job was re-added. */
  previousStatus: string;
  /** The step it failed at, which runs again first (null for an active operation). */
  resumesAt: string | null;
}

type OperationRow = typeof operations.$inferSelect;

/** Re-runs what `id` names. Throws UnknownRetryTargetError, NothingToRetryError or RetryNotQueuedError. */
export async function retryOperation(db: Db, queue: JobQueue, id: string): Promise<RetryOutcome> {
  const target = targetOf(db, id);
  if (target.status === "succeeded") {
    throw new NothingToRetryError(`${target.id} succeeded; nothing to retry`);
  }
  const newest = newestOfKind(db, target.instanceId, target.operation);
  if (newest !== undefined && newest.id !== target.id) {
    throw new NothingToRetryError(`${target.id} was replaced by ${newest.id} (${newest.status})`);
  }
  const { jobId } = await queue.retry(target.instanceId, target.operation).catch((err: unknown) => {
    // Another operator's retry or the runner changed it between our read and the queue's transaction.
    if (err instanceof InvalidJobError) throw new NothingToRetryError(err.message);
    throw new RetryNotQueuedError(target.id, err);
  });
  return {
    instanceId: target.instanceId,
    jobId,
    operation: target.operation,
    previousStatus: target.status,
    resumesAt: activeOperationStatuses.includes(target.status) ? null : target.errorStep,
  };
}

/** The job of that id, else the instance's newest operation of any kind. */
function targetOf(db: Db, id: string): OperationRow {
  const byJob = db.select().from(operations).where(eq(operations.id, id)).get();
  if (byJob !== undefined) return byJob;
  const byInstance = db
    .select()
    .from(operations)
    .where(eq(operations.instanceId, id))
    .orderBy(desc(operations.createdAt), desc(operations.seq))
    .limit(1)
    .get();
  if (byInstance !== undefined) return byInstance;
  if (findInstance(db, id) !== undefined) throw new NothingToRetryError(`instance ${id} has no job to retry`);
  throw new UnknownRetryTargetError(id);
}

function newestOfKind(db: Db, instanceId: string, operation: string): OperationRow | undefined {
  return db
    .select()
    .from(operations)
    .where(and(eq(operations.instanceId, instanceId), eq(operations.operation, operation)))
    .orderBy(desc(operations.seq))
    .limit(1)
    .get();
}
