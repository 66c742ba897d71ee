import { describe, expect, test } from "bun:test";
import { pollUntil } from "../../core/wait.ts";
import { runtimePerTest } from "../../harness/runner/harness.ts";
import type { JobDefinition } from "../../jobs/step.ts";
import { recordingStep, waitForOperation } from "./steps.ts";

const runtime = runtimePerTest();

describe("broker outage", () => {
  test("the worker survives a broker kill -9, reconnects, and a parked wait still resumes by signal", async () => {
    const events: string[] = [];
    const job: JobDefinition = {
      name: "demo",
      steps: [
        recordingStep(events, "await-boot", { body: (ctx) => ctx.waitFor("ready", { timeoutMs: 120_000 }) }),
      ],
    };
    await runtime.current.startWorker([job]);
    const { jobId } = await runtime.current.queue.enqueue("demo", "inst-outage");
    await waitForOperation(runtime.current.db, jobId, "parked");

    await runtime.current.killAndRestartBroker();
    await pollUntil(() => runtime.current.queue.ping(), {
      timeoutMs: 15_000,
      description: "the queue client to reconnect",
    });
    await runtime.current.queue.signal("inst-outage", "ready", {});
    await waitForOperation(runtime.current.db, jobId, "succeeded", 20_000);
    expect(events).toEqual(["run:await-boot", "run:await-boot"]);

    // A job enqueued after the outage runs on the same, reconnected worker.
    const later = await runtime.current.queue.enqueue("demo", "inst-after");
    await runtime.current.queue.signal("inst-after", "ready", {});
    await waitForOperation(runtime.current.db, later.jobId, "succeeded", 20_000);
  });
});
