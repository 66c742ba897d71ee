import { describe, expect, test } from "bun:test";
import { Queue } from "bunqueue/client";
import { eq } from "drizzle-orm";
import { pollUntil } from "../../core/wait.ts";
import { operations } from "../../db/schema.ts";
import { runtimePerTest } from "../../harness/runner/harness.ts";
import { operationsQueueName } from "../../queue/payload.ts";
import { connectJobQueue } from "../../queue/queue.ts";
import { recordingStep, waitForOperation } from "./steps.ts";

const runtime = runtimePerTest();

function brokerQueue() {
  const { brokerHost: host, brokerPort: port, brokerToken: token } = runtime.current.config;
  return new Queue(operationsQueueName, { connection: { host, port, token } });
}

describe("enqueue", () => {
  test("a duplicate enqueue returns the existing operation and adds no second job", async () => {
    const first = await runtime.current.queue.enqueue("demo", "inst-dup");
    const again = await runtime.current.queue.enqueue("demo", "inst-dup");
    expect(first).toEqual({ jobId: "demo:inst-dup:1", created: true });
    expect(again).toEqual({ jobId: "demo:inst-dup:1", created: false });
    const broker = brokerQueue();
    try {
      const waiting = await broker.getWaitingAsync();
      expect(waiting.map((job) => job.id)).toEqual(["demo:inst-dup:1"]);
      expect(waiting[0]?.data).toEqual({
        operationId: "demo:inst-dup:1",
        instanceId: "inst-dup",
        operation: "demo",
      });
    } finally {
      await broker.disconnect();
    }
  });

  test("enqueue after a completed operation creates a new operation with the next id", async () => {
    const events: string[] = [];
    await runtime.current.startWorker([{ name: "demo", steps: [recordingStep(events, "a")] }]);
    const first = await runtime.current.queue.enqueue("demo", "inst-again");
    await waitForOperation(runtime.current.db, first.jobId, "succeeded");
    const second = await runtime.current.queue.enqueue("demo", "inst-again");
    expect(second).toEqual({ jobId: "demo:inst-again:2", created: true });
    await waitForOperation(runtime.current.db, second.jobId, "succeeded");
    expect(events).toEqual(["run:a", "run:a"]);
    const rows = runtime.current.db
      .select()
      .from(operations)
      .where(eq(operations.instanceId, "inst-again"))
      .all();
    expect(rows.map((row) => [row.seq, row.status])).toEqual([
      [1, "succeeded"],
      [2, "succeeded"],
    ]);
  });

  test("a job for an operation the worker does not know is refused with a log line, and enqueue re-adds it", async () => {
    await runtime.current.startWorker([{ name: "demo", steps: [recordingStep([], "a")] }]);
    const { jobId } = await runtime.current.queue.enqueue("unknown-op", "inst-unknown");
    await pollUntil(() => runtime.current.logs.find((line) => line.msg.startsWith("job refused")), {
      timeoutMs: 10_000,
      description: "the refusal log line",
    });
    expect(runtime.current.logs.find((line) => line.msg.startsWith("job refused"))).toMatchObject({
      jobId,
      msg: "job refused: no job definition for operation unknown-op",
    });
    // The operation stays requested, so enqueueing it again (e.g. once a worker knows it) adds the job anew.
    expect(await runtime.current.queue.enqueue("unknown-op", "inst-unknown")).toEqual({
      jobId,
      created: false,
    });
  });

  test("ping answers true with the broker up and false, within its bound, with no broker", async () => {
    expect(await runtime.current.queue.ping()).toBe(true);
    const nowhere = connectJobQueue({
      host: "127.0.0.1",
      port: 9,
      token: "wrong",
      db: runtime.current.db,
      pingTimeoutMs: 300,
      commandTimeoutMs: 300,
    });
    const started = performance.now();
    expect(await nowhere.ping()).toBe(false);
    expect(performance.now() - started).toBeLessThan(2000);
    await nowhere.close();
  });
});
