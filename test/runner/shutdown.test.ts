import { describe, expect, test } from "bun:test";
import { eq } from "drizzle-orm";
import { instances } from "../../db/schema.ts";
import { runtimePerTest } from "../../harness/runner/harness.ts";
import type { JobDefinition } from "../../jobs/step.ts";
import { gate, recordingStep, stepRunsOf, waitForOperation } from "./steps.ts";

/** bunqueue's server checks for expired job locks this often (its stallCheckMs). */
const brokerLockSweepMs = 5000;

const runtime = runtimePerTest();

describe("graceful shutdown", () => {
  test("a step in flight finishes during stop(), outliving the broker lock without a second delivery", async () => {
    const events: string[] = [];
    const started = gate();
    const lock = { jobLockMs: 1000 };
    const job: JobDefinition = {
      name: "demo",
      steps: [
        recordingStep(events, "long", {
          timeoutMs: 30_000,
          body: async () => {
            started.open();
            // Past lock expiry plus the broker's next expired-lock sweep: only the runner's own lock
            // renewal (the Worker's stops at close()) prevents a re-delivery to the standby worker.
            await Bun.sleep(lock.jobLockMs + brokerLockSweepMs + 1000);
            return null;
          },
        }),
      ],
    };
    // The step gets 75 % of this to finish: far more than its 7 s, so only a re-delivery could fail the test.
    const worker = await runtime.current.startWorker([job], { ...lock, shutdownTimeoutMs: 20_000 });
    const { jobId } = await runtime.current.queue.enqueue("demo", "inst-graceful");
    await started.opened;
    // A second worker stands by, ready to take the job if the broker re-delivered it.
    await runtime.current.startWorker([job], lock);
    const stopping = worker.stop();
    expect(worker.stop()).toBe(stopping);
    await stopping;
    const op = await waitForOperation(runtime.current.db, jobId, "succeeded", 1000);
    expect(op.status).toBe("succeeded");
    expect(events).toEqual(["run:long"]);
    expect(runtime.current.logs.filter((line) => line.msg.includes("lease busy"))).toEqual([]);
  });

  test("a step that outlasts the bound is aborted, recorded as interrupted, and resumed by the next worker", async () => {
    const events: string[] = [];
    const started = gate();
    let calls = 0;
    const job: JobDefinition = {
      name: "demo",
      steps: [
        recordingStep(events, "first"),
        recordingStep(events, "stuck", {
          timeoutMs: 30_000,
          body: async (ctx) => {
            calls += 1;
            if (calls === 1) {
              started.open();
              await new Promise((_, reject) =>
                ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason)),
              );
            }
            return { call: calls };
          },
        }),
        recordingStep(events, "last"),
      ],
    };
    const worker = await runtime.current.startWorker([job], { shutdownTimeoutMs: 400 });
    const { jobId } = await runtime.current.queue.enqueue("demo", "inst-abort");
    await started.opened;
    await worker.stop();
    const parked = await waitForOperation(runtime.current.db, jobId, "parked", 2000);
    expect(parked.status).toBe("parked");
    const instance = runtime.current.db.select().from(instances).where(eq(instances.id, "inst-abort")).get();
    expect(instance?.leaseOwner).toBeNull();

    await runtime.current.startWorker([job]);
    await waitForOperation(runtime.current.db, jobId, "succeeded");
    expect(events).toEqual(["run:first", "run:stuck", "run:stuck", "run:last"]);
    const rows = stepRunsOf(runtime.current.db, jobId);
    expect(rows.map((row) => [row.step, row.attempt, row.status])).toEqual([
      ["first", 1, "succeeded"],
      ["stuck", 1, "interrupted"],
      ["stuck", 1, "succeeded"],
      ["last", 1, "succeeded"],
    ]);
  });
});
