/**
 * Parking: the job goes back to the broker as delayed until `until` (or an earlier promote), so no worker
 * slot is held while it backs off, waits for a signal or waits for a busy instance lease.
 */
import { DelayedError, type Job } from "bunqueue/client";
import type { OperationPayload } from "../../queue/payload.ts";

export type ParkReason = "backoff" | "wait" | "lease_busy" | "lease_lost" | "interrupted";

/** Moves the job to delayed and returns the DelayedError the processor must throw to release it. */
export async function parkJob(
  job: Job<unknown>,
  payload: OperationPayload,
  park: { reason: ParkReason; step: string | null; until: number },
): Promise<DelayedError> {
  // Visible to operators in the broker; the database stays the source of truth for resuming.
  await job.updateData({ ...payload, parked: park });
  await job.moveToDelayed(park.until, job.token);
  return new DelayedError(`parked (${park.reason}) until ${new Date(park.until).toISOString()}`);
}
