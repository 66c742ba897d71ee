import { describe, expect, test } from "bun:test";
import { eq } from "drizzle-orm";
import { pollUntil } from "../../core/wait.ts";
import { instances } from "../../db/schema.ts";
import { runtimePerTest } from "../../harness/runner/harness.ts";
import { PermanentError } from "../../jobs/errors.ts";
import { gate, quickRetry, recordingStep, stepRunsOf, waitForOperation } from "./steps.ts";

const runtime = runtimePerTest();

class FlakyError extends Error {
  readonly code = "flaky";
}

describe("retries per step policy", () => {
  test("a transient error is retried with the failed attempts recorded, then the step succeeds", async () => {
    const events: string[] = [];
    let calls = 0;
    const flaky = recordingStep(events, "flaky", {
      retry: quickRetry(3),
      body: async () => {
        calls += 1;
        if (calls < 3) throw new FlakyError(`try ${calls}`);
        return { ok: true };
      },
    });
    await runtime.current.startWorker([{ name: "demo", steps: [recordingStep(events, "first"), flaky] }]);
    const { jobId } = await runtime.current.queue.enqueue("demo", "inst-flaky");
    await waitForOperation(runtime.current.db, jobId, "succeeded");
    expect(events).toEqual(["run:first", "run:flaky", "run:flaky", "run:flaky"]);
    const rows = stepRunsOf(runtime.current.db, jobId).filter((row) => row.step === "flaky");
    expect(rows.map((row) => [row.attempt, row.status, row.errorCode])).toEqual([
      [1, "failed", "flaky"],
      [2, "failed", "flaky"],
      [3, "succeeded", null],
    ]);
  });

  test("a permanent error stops at once although attempts are left; the instance is failed with step, code, message", async () => {
    const events: string[] = [];
    const broken = recordingStep(events, "broken", {
      retry: quickRetry(5),
      body: async () => {
        throw new PermanentError("server type does not exist", { code: "invalid_input" });
      },
    });
    await runtime.current.startWorker([{ name: "demo", steps: [broken, recordingStep(events, "never")] }]);
    const { jobId } = await runtime.current.queue.enqueue("demo", "inst-perm");
    const op = await waitForOperation(runtime.current.db, jobId, "failed");
    expect(events).toEqual(["run:broken"]);
    expect(op).toMatchObject({ errorStep: "broken", errorCode: "invalid_input" });
    const instance = runtime.current.db.select().from(instances).where(eq(instances.id, "inst-perm")).get();
    expect(instance).toMatchObject({
      status: "failed",
      errorStep: "broken",
      errorCode: "invalid_input",
      errorMessage: "server type does not exist",
    });
    await pollUntil(
      async () => (await runtime.current.queue.ping()) && (await jobState(jobId)) === "failed",
      {
        timeoutMs: 5000,
        description: "the broker job to be failed",
      },
    );
  });

  test("a step whose policy marks an error permanent is not retried; exhausted attempts fail the operation", async () => {
    const events: string[] = [];
    const step = recordingStep(events, "limited", {
      retry: { ...quickRetry(2), isPermanent: (err) => err instanceof Error && err.message === "fatal" },
      body: async () => {
        throw new FlakyError("still down");
      },
    });
    await runtime.current.startWorker([{ name: "demo", steps: [step] }]);
    const { jobId } = await runtime.current.queue.enqueue("demo", "inst-exhaust");
    const op = await waitForOperation(runtime.current.db, jobId, "failed");
    expect(events).toEqual(["run:limited", "run:limited"]);
    expect(op.errorCode).toBe("flaky");
  });

  test("a job backing off holds no worker slot: another job runs meanwhile on a one-slot worker", async () => {
    const events: string[] = [];
    let calls = 0;
    const slow = recordingStep(events, "backoff", {
      // Long enough that "other" surely runs inside the backoff, even on a loaded machine.
      retry: { attempts: 2, initialDelayMs: 2500, maxDelayMs: 2500 },
      body: async () => {
        calls += 1;
        if (calls === 1) throw new FlakyError("first try fails");
        return null;
      },
    });
    await runtime.current.startWorker(
      [
        { name: "backoff", steps: [slow] },
        { name: "other", steps: [recordingStep(events, "other")] },
      ],
      { workerConcurrency: 1 },
    );
    const first = await runtime.current.queue.enqueue("backoff", "inst-a");
    // Wait until the first job is parked (backing off), then give the single slot other work.
    await waitForOperation(runtime.current.db, first.jobId, "parked");
    const second = await runtime.current.queue.enqueue("other", "inst-b");
    await waitForOperation(runtime.current.db, second.jobId, "succeeded");
    const firstOp = runtime.current.db.select().from(instances).where(eq(instances.id, "inst-a")).get();
    expect(events.slice(0, 2)).toEqual(["run:backoff", "run:other"]);
    expect(firstOp?.leaseOwner).toBeNull();
    await waitForOperation(runtime.current.db, first.jobId, "succeeded");
  });

  test("a step past its timeout is aborted and retried as a transient StepTimeoutError", async () => {
    const events: string[] = [];
    const release = gate();
    let calls = 0;
    const hang = recordingStep(events, "hang", {
      retry: quickRetry(2),
      timeoutMs: 200,
      body: async (ctx) => {
        calls += 1;
        if (calls === 1) {
          ctx.signal.addEventListener("abort", () => release.open());
          await release.opened;
          throw ctx.signal.reason;
        }
        return null;
      },
    });
    await runtime.current.startWorker([{ name: "demo", steps: [hang] }]);
    const { jobId } = await runtime.current.queue.enqueue("demo", "inst-timeout");
    await waitForOperation(runtime.current.db, jobId, "succeeded");
    const rows = stepRunsOf(runtime.current.db, jobId);
    expect(rows.map((row) => [row.status, row.errorCode])).toEqual([
      ["failed", "step_timeout"],
      ["succeeded", null],
    ]);
  });
});

async function jobState(jobId: string): Promise<string> {
  const { Queue } = await import("bunqueue/client");
  const queue = new Queue("instance-operations", {
    connection: {
      host: runtime.current.config.brokerHost,
      port: runtime.current.config.brokerPort,
      token: runtime.current.config.brokerToken,
    },
  });
  try {
    return await queue.getJobState(jobId);
  } finally {
    await queue.disconnect();
  }
}
