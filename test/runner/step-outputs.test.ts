import { describe, expect, test } from "bun:test";
import { and, eq } from "drizzle-orm";
import { z } from "zod";
import { stepRuns } from "../../db/schema.ts";
import { runtimePerTest } from "../../harness/runner/harness.ts";
import { type JobDefinition, stepRef } from "../../jobs/step.ts";
import { quickRetry, recordingStep, stepRunsOf, waitForOperation } from "./steps.ts";

const runtime = runtimePerTest();

const madeRef = stepRef("make", z.object({ serverId: z.number().int(), actionIds: z.array(z.number()) }));

describe("typed step outputs", () => {
  test("what a step returns is parsed before it is stored: unknown keys dropped, a misfit fails for good, storing nothing", async () => {
    const events: string[] = [];
    const job: JobDefinition = {
      name: "demo",
      steps: [
        recordingStep(events, madeRef.name, {
          output: madeRef.output,
          body: async () => ({ serverId: 7, actionIds: [1], note: "not part of the schema" }),
        }),
        recordingStep(events, "broken", {
          retry: quickRetry(3),
          output: z.object({ ids: z.array(z.number()) }),
          body: async () => ({ ids: [1, "2"] }),
        }),
      ],
    };
    await runtime.current.startWorker([job]);
    const { jobId } = await runtime.current.queue.enqueue("demo", "inst-returned");
    const op = await waitForOperation(runtime.current.db, jobId, "failed");
    const message =
      "step broken returned an output that does not fit its schema at ids.1: " +
      "Invalid input: expected number, received string";
    expect(op).toMatchObject({
      errorStep: "broken",
      errorCode: "invalid_step_output",
      errorMessage: message,
    });
    const rows = stepRunsOf(runtime.current.db, jobId);
    expect(rows.map((row) => [row.step, row.attempt, row.status, row.errorCode, row.output])).toEqual([
      ["make", 1, "succeeded", null, '{"serverId":7,"actionIds":[1]}'],
      // A defect, not a transient failure: no second attempt despite the policy's three.
      ["broken", 1, "failed", "invalid_step_output", null],
    ]);
  });

  test("a stored output changed under a parked job fails its reader, naming step and field, in step_runs", async () => {
    const events: string[] = [];
    const job: JobDefinition = {
      name: "demo",
      steps: [
        recordingStep(events, madeRef.name, {
          output: madeRef.output,
          body: async () => ({ serverId: 7, actionIds: [1, 2] }),
        }),
        recordingStep(events, "await-go", { body: (ctx) => ctx.waitFor("go", { timeoutMs: 60_000 }) }),
        recordingStep(events, "use", { body: async (ctx) => ctx.outputOf(madeRef) }),
      ],
    };
    await runtime.current.startWorker([job]);
    const { jobId } = await runtime.current.queue.enqueue("demo", "inst-stored");
    await waitForOperation(runtime.current.db, jobId, "parked");
    // What a release that stored actionIds as a comma-separated string would have left behind.
    runtime.current.db
      .update(stepRuns)
      .set({ output: '{"serverId":7,"actionIds":"1,2"}' })
      .where(and(eq(stepRuns.operationId, jobId), eq(stepRuns.step, "make")))
      .run();
    await runtime.current.queue.signal("inst-stored", "go", {});
    const op = await waitForOperation(runtime.current.db, jobId, "failed");
    const message =
      "the stored output of step make no longer fits its schema at actionIds: " +
      "Invalid input: expected array, received string";
    expect(op).toMatchObject({
      errorStep: "use",
      errorCode: "stored_output_mismatch",
      errorMessage: message,
    });
    const use = stepRunsOf(runtime.current.db, jobId).filter((row) => row.step === "use");
    expect(use.map((row) => [row.status, row.errorCode, row.errorMessage])).toEqual([
      ["failed", "stored_output_mismatch", message],
    ]);
  });

  test("reading the output of a step that has not finished in the job is refused by name", async () => {
    const events: string[] = [];
    const job: JobDefinition = {
      name: "demo",
      steps: [recordingStep(events, "use", { body: async (ctx) => ctx.outputOf(madeRef) })],
    };
    await runtime.current.startWorker([job]);
    const { jobId } = await runtime.current.queue.enqueue("demo", "inst-missing");
    const op = await waitForOperation(runtime.current.db, jobId, "failed");
    expect(op).toMatchObject({
      errorCode: "step_output_missing",
      errorMessage: "step use needs the output of step make, which has not finished in this job",
    });
  });
});
