import { describe, expect, test } from "bun:test";
import { eq } from "drizzle-orm";
import { pollUntil } from "../../core/wait.ts";
import { signals } from "../../db/schema.ts";
import { runtimePerTest } from "../../harness/runner/harness.ts";
import { UnknownInstanceError } from "../../jobs/errors.ts";
import type { JobDefinition } from "../../jobs/step.ts";
import { recordingStep, stepRunsOf, waitForOperation } from "./steps.ts";

const runtime = runtimePerTest();

describe("durable wait", () => {
  test("a parked wait is resumed by a signal within milliseconds and gets the signal's data", async () => {
    const events: string[] = [];
    let resumedAt = 0;
    const job: JobDefinition = {
      name: "demo",
      steps: [
        recordingStep(events, "create"),
        recordingStep(events, "await-boot", {
          body: async (ctx) => {
            const data = await ctx.waitFor("cloud-init-done", { timeoutMs: 60_000 });
            resumedAt = performance.now();
            return data;
          },
        }),
        recordingStep(events, "verify"),
      ],
    };
    await runtime.current.startWorker([job]);
    const { jobId } = await runtime.current.queue.enqueue("demo", "inst-wait");
    const parked = await waitForOperation(runtime.current.db, jobId, "parked");
    expect(parked.waitSignal).toBe("cloud-init-done");
    const signalledAt = performance.now();
    await runtime.current.queue.signal("inst-wait", "cloud-init-done", { bootSeconds: 42 });
    await waitForOperation(runtime.current.db, jobId, "succeeded");
    const latencyMs = resumedAt - signalledAt;
    console.log(`signal-to-resume latency: ${latencyMs.toFixed(1)} ms`);
    expect(latencyMs).toBeGreaterThan(0);
    expect(events).toEqual(["run:create", "run:await-boot", "run:await-boot", "run:verify"]);
    const wait = stepRunsOf(runtime.current.db, jobId).filter((row) => row.step === "await-boot");
    // The wait and its resumption are one attempt.
    expect(wait.map((row) => [row.attempt, row.status])).toEqual([[1, "succeeded"]]);
    expect(JSON.parse(wait[0]?.output ?? "null")).toEqual({ bootSeconds: 42 });
    const signal = runtime.current.db.select().from(signals).where(eq(signals.instanceId, "inst-wait")).get();
    expect(signal?.consumedAt).toBeGreaterThan(0);
  });

  test("a wait whose deadline passes fails the operation with wait_timeout naming the signal", async () => {
    const events: string[] = [];
    const job: JobDefinition = {
      name: "demo",
      steps: [
        recordingStep(events, "await-boot", {
          body: (ctx) => ctx.waitFor("cloud-init-done", { timeoutMs: 300 }),
        }),
      ],
    };
    await runtime.current.startWorker([job]);
    const { jobId } = await runtime.current.queue.enqueue("demo", "inst-deadline");
    const op = await waitForOperation(runtime.current.db, jobId, "failed");
    expect(op.errorCode).toBe("wait_timeout");
    expect(op.errorMessage).toContain('"cloud-init-done"');
    expect(events).toEqual(["run:await-boot", "run:await-boot"]);
  });

  test("a signal that arrived before the wait is returned at once", async () => {
    const job: JobDefinition = {
      name: "demo",
      steps: [
        recordingStep([], "await-boot", { body: (ctx) => ctx.waitFor("ready", { timeoutMs: 60_000 }) }),
      ],
    };
    const { jobId } = await runtime.current.queue.enqueue("demo", "inst-early");
    await runtime.current.queue.signal("inst-early", "ready", { early: true });
    await runtime.current.startWorker([job]);
    await waitForOperation(runtime.current.db, jobId, "succeeded");
    expect(stepRunsOf(runtime.current.db, jobId).map((row) => row.status)).toEqual(["succeeded"]);
  });

  test("a signal landing between the check and the park is not lost: the runner re-checks and resumes", async () => {
    const events: string[] = [];
    const job: JobDefinition = {
      name: "demo",
      steps: [
        recordingStep(events, "await-boot", {
          body: async (ctx) => {
            try {
              return await ctx.waitFor("ready", { timeoutMs: 60_000 });
            } catch (parking) {
              // The signal lands after the check found nothing and before the job is parked.
              if (events.length === 1)
                await runtime.current.queue.signal("inst-race", "ready", { raced: true });
              throw parking;
            }
          },
        }),
      ],
    };
    await runtime.current.startWorker([job]);
    const { jobId } = await runtime.current.queue.enqueue("demo", "inst-race");
    await waitForOperation(runtime.current.db, jobId, "succeeded", 5000);
    expect(events).toEqual(["run:await-boot", "run:await-boot"]);
  });

  test("a signal left over from before the operation was requested does not satisfy its wait", async () => {
    const job: JobDefinition = {
      name: "demo",
      steps: [recordingStep([], "await-boot", { body: (ctx) => ctx.waitFor("ready", { timeoutMs: 300 }) })],
    };
    await runtime.current.startWorker([job, { name: "setup", steps: [recordingStep([], "noop")] }]);
    const setup = await runtime.current.queue.enqueue("setup", "inst-stale-signal");
    await waitForOperation(runtime.current.db, setup.jobId, "succeeded");
    await runtime.current.queue.signal("inst-stale-signal", "ready", { stale: true });
    const signalledAt = Date.now();
    // The operation must be requested in a later millisecond than the stale signal.
    await pollUntil(() => Date.now() > signalledAt, { timeoutMs: 1000, description: "the clock to move on" });
    const { jobId } = await runtime.current.queue.enqueue("demo", "inst-stale-signal");
    const op = await waitForOperation(runtime.current.db, jobId, "failed");
    expect(op.errorCode).toBe("wait_timeout");
  });

  test("signalling an unknown instance is refused", async () => {
    await expect(runtime.current.queue.signal("nobody", "ready", {})).rejects.toBeInstanceOf(
      UnknownInstanceError,
    );
  });
});
