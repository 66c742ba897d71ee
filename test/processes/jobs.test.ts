/**
 * The runtime's promises, shown with real broker, api and worker processes and the test jobs:
 * retries, permanent failures and compensation, re-runs, durable waits and the kill/restart cases.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { eq } from "drizzle-orm";
import { pollUntil } from "../../core/wait.ts";
import { appDatabasePath, type Db, openDatabase } from "../../db/index.ts";
import { instances } from "../../db/schema.ts";
import { createTestStack, type TestStack } from "../../harness/support/processes.ts";
import {
  openGate,
  readTestEvents,
  TEST_OPERATIONS,
  type TestEvent,
} from "../../harness/support/test-jobs.ts";
import { connectJobQueue, type JobQueue } from "../../queue/queue.ts";
import { waitForOperation } from "../runner/steps.ts";

let stack: TestStack;
let db: Db;
let queue: JobQueue;

beforeAll(async () => {
  stack = await createTestStack();
  await stack.start("broker");
  await stack.start("api"); // migrates the database before the test process opens it
  await stack.start("worker");
  db = openDatabase(appDatabasePath(stack.dataDir));
  queue = connectJobQueue({
    host: "127.0.0.1",
    port: Number(stack.env.BROKER_PORT),
    token: stack.env.BROKER_TOKEN ?? "",
    db,
  });
}, 90_000);

afterAll(async () => {
  await queue.close();
  db.$client.close();
  await stack.dispose();
});

let instanceCount = 0;
async function enqueue(operation: string) {
  instanceCount += 1;
  const instanceId = `inst-${instanceCount}`;
  const { jobId } = await queue.enqueue(operation, instanceId);
  return { instanceId, jobId };
}

const eventsOf = (instanceId: string) => readTestEvents(stack.dataDir, instanceId);
const summary = (events: TestEvent[]) => events.map((event) => `${event.kind}:${event.step}`);
const count = (events: TestEvent[], kind: TestEvent["kind"], step: string) =>
  events.filter((event) => event.kind === kind && event.step === step).length;

function waitForEvent(instanceId: string, kind: TestEvent["kind"], step: string, timeoutMs = 20_000) {
  return pollUntil(() => eventsOf(instanceId).find((event) => event.kind === kind && event.step === step), {
    timeoutMs,
    description: `${kind}:${step} of ${instanceId}`,
  });
}

/** Restarts the broker or worker if a test left one stopped, so one failure does not cascade. */
async function ensureWorker() {
  if (!stack.running("broker")) await stack.start("broker");
  if (!stack.running("worker")) await stack.start("worker");
}

describe("retries and failures", () => {
  test("a transient error is retried until the step succeeds", async () => {
    const { instanceId, jobId } = await enqueue(TEST_OPERATIONS.flaky);
    await waitForOperation(db, jobId, "succeeded");
    expect(eventsOf(instanceId).map((event) => `${event.kind}:${event.attempt}`)).toEqual([
      "start:1",
      "start:2",
      "start:3",
      "end:3",
    ]);
  }, 30_000);

  test("job outcomes and step durations show on the api's /metrics, runner outcomes on the worker's", async () => {
    const { jobId } = await enqueue(TEST_OPERATIONS.flaky);
    await waitForOperation(db, jobId, "succeeded");
    const api = await (await fetch(`${stack.apiUrl}/metrics`)).text();
    expect(api).toMatch(/^job_operations\{operation="test-flaky",status="succeeded"\} [1-9]/m);
    // The test stack's readiness probe is the api's /healthz.
    expect(api).toContain('http_requests_total{method="GET",route="/healthz",status="200"}');
    const worker = await (await fetch(`http://127.0.0.1:${stack.env.WORKER_METRICS_PORT}/metrics`)).text();
    expect(worker).toMatch(/^job_outcomes_total\{operation="test-flaky",outcome="succeeded"\} [1-9]/m);
    expect(worker).not.toContain("step_duration_seconds");
    expect(api).toMatch(
      /^step_run_duration_seconds_count\{operation="test-flaky",step="flaky",kind="run",outcome="succeeded"\} [1-9]/m,
    );
  }, 30_000);

  test("a permanent error stops at once and compensations run in reverse order", async () => {
    const { instanceId, jobId } = await enqueue(TEST_OPERATIONS.permanent);
    const failed = await waitForOperation(db, jobId, "failed");
    expect(failed).toMatchObject({ errorStep: "explode", errorCode: "invalid_input" });
    expect(summary(eventsOf(instanceId))).toEqual([
      "start:reserve",
      "end:reserve",
      "start:configure",
      "end:configure",
      "start:explode",
      "undo:configure",
      "undo:reserve",
    ]);
    const instance = db.select().from(instances).where(eq(instances.id, instanceId)).get();
    expect(instance?.status).toBe("failed");
  }, 30_000);

  test("a failed job re-runs from its failed step", async () => {
    const { instanceId, jobId } = await enqueue(TEST_OPERATIONS.fixable);
    await waitForOperation(db, jobId, "failed");
    openGate(stack.dataDir, instanceId, "fix");
    const rerun = await queue.retry(instanceId, TEST_OPERATIONS.fixable);
    expect(rerun.jobId).toBe(jobId);
    await waitForOperation(db, jobId, "succeeded");
    const events = eventsOf(instanceId);
    expect(count(events, "start", "prepare")).toBe(1);
    expect(count(events, "start", "fragile")).toBe(2);
    expect(count(events, "end", "finish")).toBe(1);
  }, 30_000);
});

describe("durable wait", () => {
  test("parks the job and resumes it when the signal arrives", async () => {
    const { instanceId, jobId } = await enqueue(TEST_OPERATIONS.wait);
    await waitForOperation(db, jobId, "parked");
    await queue.signal(instanceId, "callback", { phase: "cloud-init done" });
    await waitForOperation(db, jobId, "succeeded");
    expect(count(eventsOf(instanceId), "end", "after-wait")).toBe(1);
  }, 30_000);

  test("fails with a typed timeout when the deadline passes without the signal", async () => {
    const { jobId } = await enqueue(TEST_OPERATIONS.waitDeadline);
    const failed = await waitForOperation(db, jobId, "failed");
    expect(failed).toMatchObject({ errorStep: "await-callback", errorCode: "wait_timeout" });
    expect(failed.errorMessage).toContain('"callback"');
  }, 30_000);
});

describe("process failures", () => {
  test("worker SIGKILL mid-step: a new worker resumes at the interrupted step", async () => {
    await ensureWorker();
    const { instanceId, jobId } = await enqueue(TEST_OPERATIONS.gated);
    await waitForEvent(instanceId, "start", "gated");
    await stack.kill("worker");
    await stack.start("worker");
    await pollUntil(() => count(eventsOf(instanceId), "start", "gated") === 2, {
      timeoutMs: 30_000,
      description: "the gated step to be re-delivered",
    });
    openGate(stack.dataDir, instanceId, "release");
    await waitForOperation(db, jobId, "succeeded", 30_000);
    const events = eventsOf(instanceId);
    expect(count(events, "start", "before")).toBe(1);
    expect(count(events, "end", "gated")).toBe(1);
    expect(count(events, "end", "after")).toBe(1);
  }, 60_000);

  test("broker SIGKILL and restart while a step runs: no double execution, the worker reconnects", async () => {
    await ensureWorker();
    const { instanceId, jobId } = await enqueue(TEST_OPERATIONS.gated);
    await waitForEvent(instanceId, "start", "gated");
    await stack.kill("broker");
    await stack.start("broker");
    // bunqueue requeues the active job on restart and the worker takes it again while the first
    // execution still runs: the instance lease must turn that second delivery away.
    await stack.waitForLog(
      "worker",
      (line) => line.json?.msg === "instance lease busy; job parked" && line.json.jobId === jobId,
    );
    openGate(stack.dataDir, instanceId, "release");
    await waitForOperation(db, jobId, "succeeded", 30_000);
    const events = eventsOf(instanceId);
    expect(summary(events)).toEqual([
      "start:before",
      "end:before",
      "start:gated",
      "end:gated",
      "start:after",
      "end:after",
    ]);
    // The worker that lived through the outage still takes new work.
    const next = await enqueue(TEST_OPERATIONS.flaky);
    await waitForOperation(db, next.jobId, "succeeded", 30_000);
  }, 60_000);

  test("the worker survives a broker outage and takes work again once the broker is back", async () => {
    await ensureWorker();
    const worker = stack.running("worker");
    await stack.kill("broker");
    // The outage is visible from outside before the broker comes back.
    await pollUntil(async () => (await fetch(`${stack.apiUrl}/readyz`)).status === 503, {
      timeoutMs: 10_000,
      description: "the api to report the broker unreachable",
    });
    await stack.start("broker");
    const { jobId } = await enqueue(TEST_OPERATIONS.flaky);
    await waitForOperation(db, jobId, "succeeded", 30_000);
    expect(stack.running("worker")?.pid).toBe(worker?.pid ?? -1);
  }, 60_000);

  test("SIGTERM (twice) with a step in flight: exits 0, the step is abandoned once and resumed later", async () => {
    await ensureWorker();
    const { instanceId, jobId } = await enqueue(TEST_OPERATIONS.gated);
    await waitForEvent(instanceId, "start", "gated");
    const worker = stack.running("worker");
    if (!worker) throw new Error("worker is not running");
    worker.signal("SIGTERM");
    worker.signal("SIGTERM");
    expect(await worker.exited).toBe(0);
    expect(summary(eventsOf(instanceId))).toEqual([
      "start:before",
      "end:before",
      "start:gated",
      "abort:gated",
    ]);
    await stack.start("worker");
    openGate(stack.dataDir, instanceId, "release");
    await waitForOperation(db, jobId, "succeeded", 30_000);
    const events = eventsOf(instanceId);
    expect(count(events, "start", "gated")).toBe(2);
    expect(count(events, "end", "gated")).toBe(1);
    expect(count(events, "start", "before")).toBe(1);
  }, 60_000);

  test("SIGTERM while a step finishes in time: exits 0 and nothing runs twice", async () => {
    await ensureWorker();
    const { instanceId, jobId } = await enqueue(TEST_OPERATIONS.gated);
    await waitForEvent(instanceId, "start", "gated");
    const worker = stack.running("worker");
    if (!worker) throw new Error("worker is not running");
    worker.signal("SIGTERM");
    openGate(stack.dataDir, instanceId, "release");
    expect(await worker.exited).toBe(0);
    await stack.start("worker");
    await waitForOperation(db, jobId, "succeeded", 30_000);
    const events = eventsOf(instanceId);
    expect(count(events, "start", "gated")).toBe(1);
    expect(count(events, "start", "after")).toBe(1);
  }, 60_000);
});
