import { describe, expect, test } from "bun:test";
import { Queue, UnrecoverableError, Worker } from "bunqueue/client";
import { eq } from "drizzle-orm";
import { pollUntil } from "../../core/wait.ts";
import { instances } from "../../db/schema.ts";
import { runtimePerTest } from "../../harness/runner/harness.ts";
import { PermanentError } from "../../jobs/errors.ts";
import type { JobDefinition } from "../../jobs/step.ts";
import { operationsQueueName } from "../../queue/payload.ts";
import { quickRetry, recordedRef, recordingStep, stepRunsOf, waitForOperation } from "./steps.ts";

const runtime = runtimePerTest();

describe("final failure: compensation and re-run", () => {
  test("compensations of the succeeded steps run in reverse order and are recorded", async () => {
    const events: string[] = [];
    const job: JobDefinition = {
      name: "demo",
      steps: [
        recordingStep(events, "a", { compensate: true }),
        recordingStep(events, "b"),
        recordingStep(events, "c", { compensate: true }),
        recordingStep(events, "d", {
          compensate: true,
          body: async () => {
            throw new PermanentError("no capacity", { code: "resource_unavailable" });
          },
        }),
      ],
    };
    await runtime.current.startWorker([job]);
    const { jobId } = await runtime.current.queue.enqueue("demo", "inst-saga");
    await waitForOperation(runtime.current.db, jobId, "failed");
    // d failed, so only c and a (which have compensations) are undone, newest first.
    expect(events).toEqual(["run:a", "run:b", "run:c", "run:d", "undo:c", "undo:a"]);
    const compensations = stepRunsOf(runtime.current.db, jobId).filter((row) => row.kind === "compensate");
    expect(compensations.map((row) => [row.step, row.status])).toEqual([
      ["c", "succeeded"],
      ["a", "succeeded"],
    ]);
  });

  test("a failing compensation is retried a bounded number of times, logged, and the rollback goes on", async () => {
    const events: string[] = [];
    const stuck = {
      ...recordingStep(events, "stuck", { retry: quickRetry(5) }),
      compensate: async () => {
        events.push("undo:stuck");
        throw new Error("delete refused");
      },
    };
    const job: JobDefinition = {
      name: "demo",
      steps: [
        recordingStep(events, "a", { compensate: true }),
        stuck,
        recordingStep(events, "fails", {
          body: async () => {
            throw new PermanentError("boom");
          },
        }),
      ],
    };
    await runtime.current.startWorker([job]);
    const { jobId } = await runtime.current.queue.enqueue("demo", "inst-stuck");
    await waitForOperation(runtime.current.db, jobId, "failed");
    expect(events).toEqual([
      "run:a",
      "run:stuck",
      "run:fails",
      "undo:stuck",
      "undo:stuck",
      "undo:stuck",
      "undo:a",
    ]);
    const errors = runtime.current.logs.filter((line) => line.msg.startsWith("compensation failed"));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ step: "stuck", compensation: true });
  });

  test("retry() re-runs a failed operation from its failed step; a compensated step runs again", async () => {
    const events: string[] = [];
    let failNext = true;
    const job: JobDefinition = {
      name: "demo",
      steps: [
        recordingStep(events, "kept"),
        recordingStep(events, "undone", { compensate: true }),
        recordingStep(events, "flaky", {
          body: async () => {
            if (failNext) {
              failNext = false;
              throw new PermanentError("quota exceeded", { code: "resource_limit_exceeded" });
            }
            return null;
          },
        }),
        recordingStep(events, "last"),
      ],
    };
    await runtime.current.startWorker([job]);
    const { jobId } = await runtime.current.queue.enqueue("demo", "inst-retry");
    await waitForOperation(runtime.current.db, jobId, "failed");
    expect(events).toEqual(["run:kept", "run:undone", "run:flaky", "undo:undone"]);

    const { jobId: retried } = await runtime.current.queue.retry("inst-retry", "demo");
    expect(retried).toBe(jobId);
    const op = await waitForOperation(runtime.current.db, jobId, "succeeded");
    expect(op.run).toBe(2);
    expect(events.slice(4)).toEqual(["run:undone", "run:flaky", "run:last"]);
    const instance = runtime.current.db.select().from(instances).where(eq(instances.id, "inst-retry")).get();
    expect(instance).toMatchObject({ status: "ready", errorStep: null, errorCode: null });
  });

  test("on a re-run, every step after one that runs again runs again too, with the new outputs", async () => {
    const events: string[] = [];
    let made = 0;
    let failNext = true;
    const job: JobDefinition = {
      name: "demo",
      steps: [
        recordingStep(events, "make", { compensate: true, body: async () => ({ thing: ++made }) }),
        recordingStep(events, "use", { body: async (ctx) => ({ used: ctx.outputOf(recordedRef("make")) }) }),
        recordingStep(events, "flaky", {
          body: async (ctx) => {
            if (failNext) {
              failNext = false;
              throw new PermanentError("host refused", { code: "host_key_mismatch" });
            }
            return ctx.outputOf(recordedRef("use"));
          },
        }),
      ],
    };
    await runtime.current.startWorker([job]);
    const { jobId } = await runtime.current.queue.enqueue("demo", "inst-rerun-after");
    await waitForOperation(runtime.current.db, jobId, "failed");
    await runtime.current.queue.retry("inst-rerun-after", "demo");
    await waitForOperation(runtime.current.db, jobId, "succeeded");
    // "use" has no compensation, yet it read what the undone "make" produced: it must not be skipped.
    expect(events.slice(4)).toEqual(["run:make", "run:use", "run:flaky"]);
    const flaky = stepRunsOf(runtime.current.db, jobId).filter(
      (row) => row.step === "flaky" && row.status === "succeeded",
    );
    expect(flaky.map((row) => JSON.parse(row.output ?? "null"))).toEqual([{ used: { thing: 2 } }]);
  });

  test("retry() re-adds an operation whose broker job failed outside the runner (e.g. broker attempts exhausted)", async () => {
    const { brokerHost: host, brokerPort: port, brokerToken: token } = runtime.current.config;
    const connection = { host, port, token };
    // A foreign consumer fails the job in the broker before any runner sees it; the operation stays queued.
    const saboteur = new Worker(
      operationsQueueName,
      async () => {
        throw new UnrecoverableError("infrastructure gave up");
      },
      { connection },
    );
    saboteur.on("error", () => {});
    const { jobId } = await runtime.current.queue.enqueue("demo", "inst-stuck-job");
    const broker = new Queue(operationsQueueName, { connection });
    await pollUntil(async () => (await broker.getJobState(jobId)) === "failed", {
      timeoutMs: 10_000,
      description: "the broker job to fail",
    });
    await saboteur.close();
    await broker.disconnect();

    const events: string[] = [];
    await runtime.current.startWorker([{ name: "demo", steps: [recordingStep(events, "a")] }]);
    expect(await runtime.current.queue.retry("inst-stuck-job", "demo")).toEqual({ jobId });
    await waitForOperation(runtime.current.db, jobId, "succeeded");
    expect(events).toEqual(["run:a"]);
  });

  test("retry() refuses when there is no failed operation to re-run", async () => {
    await runtime.current.startWorker([{ name: "demo", steps: [recordingStep([], "a")] }]);
    await expect(runtime.current.queue.retry("inst-none", "demo")).rejects.toThrow("no demo operation");
    const { jobId } = await runtime.current.queue.enqueue("demo", "inst-done");
    await waitForOperation(runtime.current.db, jobId, "succeeded");
    await expect(runtime.current.queue.retry("inst-done", "demo")).rejects.toThrow("nothing to re-run");
  });
});
