/** Waits for an operation to finish while reporting each step event as the runner records it. */

import { pollUntil } from "../core/wait.ts";
import type { Db } from "../db/index.ts";
import {
  type OperationSummary,
  type StepEvent,
  summarizeOperation,
  watchStepRuns,
} from "../domain/operation-progress.ts";

export interface FollowOptions {
  /** Give up after this long, in ms. */
  timeoutMs: number;
  /** Called for every new or changed step run, in order. */
  onStep: (row: StepEvent) => void;
  /** Aborting stops the wait (e.g. a service process died); polling rejects with its reason. */
  signal?: AbortSignal;
}

/** Resolves with the operation's summary once it has succeeded or failed. */
export async function followOperation(
  db: Db,
  operationId: string,
  options: FollowOptions,
): Promise<OperationSummary> {
  const changes = watchStepRuns(db, operationId);
  return pollUntil(
    () => {
      // Summary first: every step event the runner wrote before finishing is then in `changes()`.
      const summary = summarizeOperation(db, operationId);
      for (const row of changes()) options.onStep(row);
      return summary.status === "succeeded" || summary.status === "failed" ? summary : undefined;
    },
    {
      timeoutMs: options.timeoutMs,
      intervalMs: 50,
      description: `operation ${operationId} to finish`,
      ...(options.signal ? { signal: options.signal } : {}),
    },
  );
}
