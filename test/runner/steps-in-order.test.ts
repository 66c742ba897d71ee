import { describe, expect, test } from "bun:test";
import { eq } from "drizzle-orm";
import { instances } from "../../db/schema.ts";
import { runtimePerTest } from "../../harness/runner/harness.ts";
import type { JobDefinition } from "../../jobs/step.ts";
import { recordedRef, recordingStep, stepRunsOf, waitForOperation } from "./steps.ts";

const runtime = runtimePerTest();

describe("steps run in order and persist", () => {
  test("each step's outcome and output is stored before the next starts; outputs flow to later steps", async () => {
    const events: string[] = [];
    const seen: unknown[] = [];
    const job: JobDefinition = {
      name: "demo",
      steps: [
        recordingStep(events, "a", { body: async () => ({ serverId: 7 }) }),
        recordingStep(events, "b", {
          body: async (ctx) => {
            seen.push(ctx.outputOf(recordedRef("a")));
            return { keyId: 9 };
          },
        }),
        recordingStep(events, "c"),
      ],
    };
    await runtime.current.startWorker([job]);
    const { jobId, created } = await runtime.current.queue.enqueue("demo", "inst-1");
    expect(created).toBe(true);
    expect(jobId).toBe("demo:inst-1:1");
    const op = await waitForOperation(runtime.current.db, jobId, "succeeded");
    expect(op.run).toBe(1);
    expect(events).toEqual(["run:a", "run:b", "run:c"]);
    expect(seen).toEqual([{ serverId: 7 }]);
    const rows = stepRunsOf(runtime.current.db, jobId);
    expect(rows.map((row) => [row.step, row.kind, row.attempt, row.status])).toEqual([
      ["a", "run", 1, "succeeded"],
      ["b", "run", 1, "succeeded"],
      ["c", "run", 1, "succeeded"],
    ]);
    expect(JSON.parse(rows[0]?.output ?? "null")).toEqual({ serverId: 7 });
    const instance = runtime.current.db.select().from(instances).where(eq(instances.id, "inst-1")).get();
    expect(instance?.status).toBe("ready");
    expect(instance?.readyAt).toBeGreaterThan(0);
    expect(instance?.leaseOwner).toBeNull();
  });

  test("every attempt writes one structured log line and updates the metrics", async () => {
    const events: string[] = [];
    await runtime.current.startWorker([
      { name: "demo", steps: [recordingStep(events, "a"), recordingStep(events, "b")] },
    ]);
    const { jobId } = await runtime.current.queue.enqueue("demo", "inst-log");
    await waitForOperation(runtime.current.db, jobId, "succeeded");
    const lines = runtime.current.logs.filter((line) => line.msg === "step attempt");
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatchObject({
      instanceId: "inst-log",
      jobId,
      operation: "demo",
      step: "a",
      attempt: 1,
      outcome: "succeeded",
      errorCode: null,
    });
    expect(typeof lines[0]?.durationMs).toBe("number");
    const text = await runtime.current.metrics.render();
    expect(text).toContain('job_outcomes_total{operation="demo",outcome="succeeded"} 1');
    // Step durations have one source, the API's step_run_duration_seconds read from step_runs.
    expect(text).not.toContain("step_duration_seconds");
  });
});
