import type { Job } from "bunqueue/client";
import { LeaseLostError } from "../../jobs/errors.ts";
import type { RunnerDeps } from "./deps.ts";
import { type Lease, renewLease } from "./lease.ts";

export interface Heartbeat {
  /** Aborts (reason LeaseLostError) when a renewal finds the lease taken over. */
  leaseLost: AbortSignal;
  stop(): void;
}

/**
 * While a job runs: renew the instance lease and the broker lock every heartbeatMs. The broker lock is
 * renewed by us rather than left to the Worker, because Worker.close() stops its own renewal and the
 * broker would then re-deliver a job whose step is still finishing during shutdown.
 */
export function startHeartbeat(deps: RunnerDeps, job: Job<unknown>, lease: Lease): Heartbeat {
  const lost = new AbortController();
  const beat = () => {
    try {
      renewLease(deps.db, lease, deps.leaseTtlMs, deps.now());
    } catch (err) {
      if (err instanceof LeaseLostError) lost.abort(err);
      else deps.log.warn({ err, instanceId: lease.instanceId, jobId: job.id }, "lease renewal failed");
    }
    if (job.token) {
      job.extendLock(job.token, deps.jobLockMs).catch((err: unknown) => {
        deps.log.warn({ err, jobId: job.id }, "broker lock renewal failed");
      });
    }
  };
  const timer = setInterval(beat, deps.heartbeatMs);
  return {
    leaseLost: lost.signal,
    stop: () => clearInterval(timer),
  };
}
