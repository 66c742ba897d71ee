/** ctx.waitFor: a wait that survives restarts because its deadline and the signal both live in the database. */

import type { Db } from "../../db/index.ts";
import { WaitTimeoutError } from "../../jobs/errors.ts";
import type { StepContext } from "../../jobs/step.ts";
import { findPendingSignal } from "../../queue/signals.ts";

/** Thrown by waitFor to unwind the step so the runner can park the job; steps must let it propagate. */
export class ParkForSignal extends Error {
  constructor(
    readonly signalName: string,
    readonly deadline: number,
  ) {
    super(`parked until signal "${signalName}" or ${new Date(deadline).toISOString()}`);
    this.name = "ParkForSignal";
  }
}

export interface WaitState {
  /** The wait the operation was parked on, if this attempt resumes one. */
  parked: { signal: string; deadline: number } | undefined;
  /** Signals handed to the step in this attempt; consumed when the step succeeds. */
  consumedSignalIds: number[];
}

export function createWaitFor(
  db: Db,
  op: { instanceId: string; createdAt: number },
  state: WaitState,
  now: () => number,
): StepContext["waitFor"] {
  return async (name, opts) => {
    const pending = findPendingSignal(db, op.instanceId, name, op.createdAt);
    if (pending) {
      state.consumedSignalIds.push(pending.id);
      return pending.data;
    }
    const deadline = state.parked?.signal === name ? state.parked.deadline : now() + opts.timeoutMs;
    if (now() >= deadline) {
      // That wait is over: a later call in this attempt (a step waiting in stages) starts a new one.
      state.parked = undefined;
      throw new WaitTimeoutError(name, deadline);
    }
    throw new ParkForSignal(name, deadline);
  };
}
