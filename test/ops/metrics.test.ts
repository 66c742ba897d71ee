/**
 * The operator's metrics render: fleet series from the database on the API's /metrics, Hetzner request
 * series from the client hook against the simulator, and the broker's queue depths from a real broker.
 */
import { describe, expect, test } from "bun:test";
import { createLogger } from "../../core/log.ts";
import { createMetrics } from "../../core/metrics.ts";
import { pollUntil } from "../../core/wait.ts";
import { createTestStack } from "../../harness/support/processes.ts";
import { createHetznerClient, RateLimitBudget } from "../../hetzner/index.ts";
import { brokerConnection } from "../../queue/queue.ts";
import { startSimulator } from "../../sim/index.ts";
import { createHetznerMetrics } from "../../worker/hetzner-metrics.ts";
import { registerQueueDepthMetrics } from "../../worker/queue-depth-metrics.ts";
import { opsApiForFile } from "./ops-api.ts";
import { seedInstance, seedOperation, seedStepRun } from "./seed.ts";

const world = opsApiForFile();
const T0 = Date.UTC(2026, 10, 26, 3, 0, 0);

async function scrape(): Promise<string> {
  const response = await fetch(`${world.ops.api.url}/metrics`);
  return response.text();
}

describe("API /metrics: the fleet from the database", () => {
  test("instances by state, provision runs by outcome, and time to ready observed once per provision", async () => {
    const { db } = world.runtime;
    const provision = (
      status: "succeeded" | "failed" | "running",
      run: number,
      readyAfterMs: number | null,
      requestedAt = T0,
    ) => {
      const instanceId = seedInstance(db, {
        createdAt: T0,
        status: status === "succeeded" ? "ready" : status === "failed" ? "failed" : "provisioning",
      });
      seedOperation(db, {
        instanceId,
        createdAt: requestedAt,
        status,
        run,
        finishedAt: readyAfterMs === null ? null : requestedAt + readyAfterMs,
      });
    };
    provision("succeeded", 1, 40_000);
    provision("succeeded", 2, 100_000);
    provision("failed", 3, 20_000);
    provision("running", 1, null);

    const first = await scrape();
    expect(first).toContain('instances{state="ready"} 2');
    expect(first).toContain('instances{state="failed"} 1');
    expect(first).toContain('instances{state="lost"} 0');
    expect(first).toContain('provision_runs{outcome="started"} 7');
    expect(first).toContain('provision_runs{outcome="succeeded"} 2');
    // Runs before the current one all failed (1 + 2), plus the current failed one.
    expect(first).toContain('provision_runs{outcome="failed"} 4');
    expect(first).toContain("provision_time_to_ready_seconds_count 2");
    expect(first).toContain("provision_time_to_ready_seconds_sum 140");
    expect(first).toContain('provision_time_to_ready_seconds_bucket{le="60"} 1');

    expect(await scrape()).toContain("provision_time_to_ready_seconds_count 2");
    provision("succeeded", 1, 30_000, T0 + 100_000);
    // Committed late: it finished before the newest one seen, within the slack, and still counts once.
    provision("succeeded", 1, 10_000, T0 + 80_000);
    const third = await scrape();
    expect(third).toContain("provision_time_to_ready_seconds_count 4");
    expect(third).toContain("provision_time_to_ready_seconds_sum 180");
    expect(await scrape()).toContain("provision_time_to_ready_seconds_count 4");
  });

  test("step durations: each finished attempt and compensation observed once, open attempts never", async () => {
    const { db } = world.runtime;
    // A deprovision, so the provision series of the test above are untouched whatever the order.
    const instanceId = seedInstance(db, { createdAt: T0, status: "deprovisioning" });
    const operationId = seedOperation(db, {
      instanceId,
      operation: "deprovision",
      createdAt: T0,
      status: "running",
    });
    const stepRun = (step: string, values: Partial<Parameters<typeof seedStepRun>[1]>) =>
      seedStepRun(db, { instanceId, operationId, step, startedAt: T0, ...values });
    const series = (step: string, kind: string, outcome: string) =>
      `operation="deprovision",step="${step}",kind="${kind}",outcome="${outcome}"`;
    const deleteFailed = series("delete-server", "run", "failed");
    const deleteSucceeded = series("delete-server", "run", "succeeded");
    const cancelUndone = series("cancel-provision", "compensate", "succeeded");
    const shredInterrupted = series("shred-secrets", "run", "interrupted");

    stepRun("delete-server", { status: "failed", finishedAt: T0 + 1_000, durationMs: 50 });
    stepRun("delete-server", { attempt: 2, finishedAt: T0 + 100_000, durationMs: 90_000 });
    stepRun("cancel-provision", { kind: "compensate", finishedAt: T0 + 110_000, durationMs: 8 });
    // Open attempts: running has no finish; waiting has a duration so far but no finish.
    stepRun("shred-secrets", { status: "running" });
    stepRun("delete-ssh-key", { status: "waiting", durationMs: 3_000 });
    // Interrupted by a shutdown (timed) counts; abandoned by a dead worker (no duration) cannot be timed.
    stepRun("shred-secrets", { status: "interrupted", finishedAt: T0 + 120_000, durationMs: 4_000 });
    stepRun("shred-secrets", { status: "interrupted", attempt: 2, finishedAt: T0 + 121_000 });

    for (const text of [await scrape(), await scrape()]) {
      expect(text).toContain("# TYPE step_run_duration_seconds histogram");
      expect(text).toContain(`step_run_duration_seconds_bucket{le="0.025",${deleteFailed}} 0\n`);
      expect(text).toContain(`step_run_duration_seconds_bucket{le="0.1",${deleteFailed}} 1\n`);
      expect(text).toContain(`step_run_duration_seconds_count{${deleteFailed}} 1\n`);
      expect(text).toContain(`step_run_duration_seconds_bucket{le="60",${deleteSucceeded}} 0\n`);
      expect(text).toContain(`step_run_duration_seconds_bucket{le="120",${deleteSucceeded}} 1\n`);
      expect(text).toContain(`step_run_duration_seconds_sum{${deleteSucceeded}} 90\n`);
      expect(text).toContain(`step_run_duration_seconds_bucket{le="0.025",${cancelUndone}} 1\n`);
      expect(text).toContain(`step_run_duration_seconds_count{${shredInterrupted}} 1\n`);
      expect(text).toContain(`step_run_duration_seconds_sum{${shredInterrupted}} 4\n`);
      expect(text).not.toMatch(/step_run_duration_seconds\w*\{[^}]*outcome="(running|waiting)"/);
      expect(text).not.toContain('step="delete-ssh-key"');
    }

    stepRun("delete-ssh-key", { finishedAt: T0 + 200_000, durationMs: 200 });
    expect(await scrape()).toContain(`step_run_duration_seconds_count{${deleteSucceeded}} 1\n`);
    // Committed late: it finished before the newest one seen, within the slack, and still counts once.
    stepRun("delete-server", { attempt: 3, finishedAt: T0 + 160_000, durationMs: 30_000 });
    for (const text of [await scrape(), await scrape()]) {
      expect(text).toContain(
        `step_run_duration_seconds_count{${series("delete-ssh-key", "run", "succeeded")}} 1\n`,
      );
      expect(text).toContain(`step_run_duration_seconds_count{${deleteSucceeded}} 2\n`);
      expect(text).toContain(`step_run_duration_seconds_sum{${deleteSucceeded}} 120\n`);
    }
  });
});

describe("worker metrics", () => {
  test("Hetzner requests by project, method and outcome, 429s, and each budget left", async () => {
    const sim = await startSimulator({ timeScale: 0.01 });
    try {
      const registry = createMetrics();
      const budget = new RateLimitBudget();
      const metricsFor = createHetznerMetrics(
        registry,
        new Map([
          ["eu-1", budget],
          ["eu-2", new RateLimitBudget()],
        ]),
      );
      const onRequest = metricsFor("eu-1");
      expect(await registry.render()).toContain('hetzner_rate_limit_remaining{project="eu-1"} Nan');
      const hetzner = createHetznerClient({
        endpoint: sim.endpoint,
        token: sim.token,
        budget,
        retry: { startingDelayMs: 10, maxDelayMs: 20 },
        onRequest,
      });
      sim.faults.add({
        kind: "error",
        method: "GET",
        path: "/servers",
        status: 429,
        code: "rate_limit_exceeded",
        times: 1,
      });
      await hetzner.servers.listAll({});
      expect(await hetzner.servers.get(999_999)).toBeNull();
      const text = await registry.render();
      expect(text).toContain(
        'hetzner_requests_total{project="eu-1",method="GET",outcome="rate_limit_exceeded"} 1',
      );
      expect(text).toContain('hetzner_requests_total{project="eu-1",method="GET",outcome="ok"} 1');
      expect(text).toContain('hetzner_requests_total{project="eu-1",method="GET",outcome="not_found"} 1');
      expect(text).toContain('hetzner_rate_limited_total{project="eu-1"} 1');
      expect(text).toMatch(/hetzner_rate_limit_remaining\{project="eu-1"\} \d+\n/);
      expect(text).toContain('hetzner_rate_limit_remaining{project="eu-2"} Nan');
    } finally {
      await sim.stop();
    }
  });

  test("queue depths come from the broker, read with a bound at scrape time", async () => {
    const { runtime } = world;
    const registry = createMetrics();
    registerQueueDepthMetrics(registry, brokerConnection(runtime.config), createLogger({ level: "silent" }));
    seedInstance(runtime.db, { id: "iqueuedepth01", createdAt: T0 });
    await runtime.queue.enqueue("provision", "iqueuedepth01");
    // The first scrape already shows the job: the read happens while it renders.
    const text = await registry.render();
    expect(text).toMatch(/broker_queue_jobs\{state="waiting"\} [1-9]/);
    expect(text).toContain('broker_queue_jobs{state="failed"} 0');
    expect(text).toContain("broker_queue_read_failures_total 0");
  });

  test("a broker that does not answer is counted as a failed read and shows no depths", async () => {
    const listener = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    const closedPort = listener.port;
    listener.stop(true);
    const registry = createMetrics();
    const broker = { ...brokerConnection(world.runtime.config), port: closedPort };
    registerQueueDepthMetrics(registry, broker, createLogger({ level: "silent" }));
    expect(await registry.render()).not.toContain("broker_queue_jobs{");
    // prom-client renders the counter while the gauge still reads: the failure shows from the next scrape.
    const text = await registry.render();
    expect(text).toMatch(/^broker_queue_read_failures_total [1-9]/m);
    expect(text).not.toContain("broker_queue_jobs{");
  });
});

test("a real worker process serves the Hetzner and queue-depth series on its /metrics", async () => {
  const stack = await createTestStack();
  try {
    await stack.start("broker");
    await stack.start("worker");
    const url = `http://127.0.0.1:${stack.env.WORKER_METRICS_PORT}/metrics`;
    const text = await pollUntil(
      async () => {
        const rendered = await (await fetch(url)).text();
        return rendered.includes("broker_queue_jobs{") ? rendered : undefined;
      },
      { timeoutMs: 15_000, intervalMs: 100, description: "the worker's queue-depth series" },
    );
    expect(text).toContain("# TYPE hetzner_requests_total counter");
    expect(text).toContain("hetzner_rate_limit_remaining");
    expect(text).toContain('broker_queue_jobs{state="active"} 0');
  } finally {
    await stack.dispose();
  }
}, 60_000);
