/** Test-only step definitions that record what ran, in order, so tests can assert on it. */

import { asc, eq } from "drizzle-orm";
import { z } from "zod";
import { pollUntil } from "../../core/wait.ts";
import type { Db } from "../../db/index.ts";
import { type OperationStatus, operations, stepRuns } from "../../db/schema.ts";
import { type RetryPolicy, type Step, type StepContext, stepRef } from "../../jobs/step.ts";

export const noRetry: RetryPolicy = { attempts: 1, initialDelayMs: 0, maxDelayMs: 0 };
export const quickRetry = (attempts: number): RetryPolicy => ({
  attempts,
  initialDelayMs: 50,
  maxDelayMs: 100,
});

/** A later step's handle on the output of recordingStep `name` (any JSON). */
export const recordedRef = (name: string) => stepRef(name, z.unknown());

/** A step that appends `run:<name>` (and `undo:<name>`) to `events` and runs `body` for its result. */
export function recordingStep(
  events: string[],
  name: string,
  opts: {
    retry?: RetryPolicy;
    timeoutMs?: number;
    body?: (ctx: StepContext) => Promise<unknown>;
    compensate?: boolean;
    /** Its output schema; default any JSON. */
    output?: z.ZodType;
  } = {},
): Step {
  return {
    name,
    output: opts.output ?? z.unknown(),
    retry: opts.retry ?? noRetry,
    timeoutMs: opts.timeoutMs ?? 5000,
    run: async (ctx) => {
      events.push(`run:${name}`);
      return opts.body ? opts.body(ctx) : { step: name };
    },
    ...(opts.compensate
      ? {
          compensate: async () => {
            events.push(`undo:${name}`);
          },
        }
      : {}),
  };
}

export function waitForOperation(db: Db, operationId: string, status: OperationStatus, timeoutMs = 15_000) {
  return pollUntil(
    () => {
      const row = db.select().from(operations).where(eq(operations.id, operationId)).get();
      return row?.status === status ? row : undefined;
    },
    { timeoutMs, description: `operation ${operationId} to be ${status}` },
  );
}

export function stepRunsOf(db: Db, operationId: string) {
  return db
    .select()
    .from(stepRuns)
    .where(eq(stepRuns.operationId, operationId))
    .orderBy(asc(stepRuns.id))
    .all();
}

/** A promise with its resolver, for steps that block until the test lets them go. */
export function gate(): { opened: Promise<void>; open(): void } {
  let open = () => {};
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { opened, open };
}
