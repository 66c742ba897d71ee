import { afterEach, beforeEach, describe, expect, setDefaultTimeout, test } from "bun:test";
import { pollUntil } from "../../cli/wait.ts";
import type { JobDefinition } from "../../jobs/step.ts";
import { type Runtime, startRuntime } from "./harness.ts";
import { recordingStep, waitForOperation } from "./steps.ts";

// Each test spawns a broker and waits on real jobs; give a loaded 2-core machine room.
setDefaultTimeout(30_000);

let runtime: Runtime;
beforeEach(async () => {
  runtime = await startRuntime();
});
afterEach(async () => {
  await runtime.dispose();
});

describe("broker outage", () => {
  test("the worker survives a broker kill -9, reconnects, and a parked wait still resumes by signal", async () => {
    const events: string[] = [];
    const job: JobDefinition = {
      name: "demo",
      steps: [
        recordingStep(events, "await-boot", { body: (ctx) => ctx.waitFor("ready", { timeoutMs: 120_000 }) }),
      ],
    };
    await runtime.startWorker([job]);
    const { jobId } = await runtime.queue.enqueue("demo", "inst-outage");
    await waitForOperation(runtime.db, jobId, "parked");

    await runtime.killAndRestartBroker();
    await pollUntil(() => runtime.queue.ping(), {
      timeoutMs: 15_000,
      description: "the queue client to reconnect",
    });
    await runtime.queue.signal("inst-outage", "ready", {});
    await waitForOperation(runtime.db, jobId, "succeeded", 20_000);
    expect(events).toEqual(["run:await-boot", "run:await-boot"]);

    // A job enqueued after the outage runs on the same, reconnected worker.
    const later = await runtime.queue.enqueue("demo", "inst-after");
    await runtime.queue.signal("inst-after", "ready", {});
    await waitForOperation(runtime.db, later.jobId, "succeeded", 20_000);
  });
});
