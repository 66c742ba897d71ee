/**
 * The sweep in production's processes: the real broker, API and `worker/main.ts` (which schedules and runs
 * sweeps) against a simulator. An operator's sweep through the API deletes a zombie; the broker's schedule
 * fires sweeps on its own; the worker's /metrics counts them; SIGTERM still exits 0.
 */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { pollUntil } from "../../core/wait.ts";
import { startMachinelessSimulator } from "../../harness/reconcile/machineless-sim.ts";
import { createTestStack, type TestStack } from "../../harness/support/processes.ts";
import type { SweepRecord } from "../../jobs/reconcile/sweep-record.ts";
import type { Simulator } from "../../sim/index.ts";

setDefaultTimeout(60_000);

const OPS_TOKEN = "ops-token-for-the-sweep-process-test-0123456789";
let sim: Simulator;
let stack: TestStack;

beforeAll(async () => {
  sim = await startMachinelessSimulator({ timeScale: 0 });
  stack = await createTestStack({
    workerEntry: "worker/main.ts",
    env: {
      HCLOUD_ENDPOINT: sim.endpoint,
      HCLOUD_TOKEN: sim.token,
      OPS_TOKEN,
      RECONCILE_INTERVAL_MS: "1000",
      RECONCILE_ZOMBIE_GRACE_MS: "0",
      LOG_LEVEL: "info",
    },
  });
  await stack.start("broker");
  await Promise.all([stack.start("api"), stack.start("worker")]);
});

afterAll(async () => {
  await stack.dispose();
  await sim.stop();
});

async function createZombie(): Promise<number> {
  const response = await fetch(`${sim.endpoint}/servers`, {
    method: "POST",
    headers: { Authorization: `Bearer ${sim.token}`, "Content-Type": "application/json" },
    body: JSON.stringify({
      name: "rachel-iprocesszombie",
      server_type: "cx23",
      image: "ubuntu-24.04",
      labels: { "managed-by": "rachel-provisioner", instance: "iprocesszombie" },
    }),
  });
  const body = (await response.json()) as { server: { id: number } };
  return body.server.id;
}

test("an operator's sweep through the API deletes a zombie; scheduled sweeps run and are counted", async () => {
  const zombieId = await createZombie();
  const response = await fetch(`${stack.apiUrl}/v1/ops/reconcile`, {
    method: "POST",
    headers: { Authorization: `Bearer ${OPS_TOKEN}` },
  });
  const record = (await response.json()) as SweepRecord;
  expect(response.status).toBe(200);
  expect(record).toMatchObject({ trigger: "operator", status: "succeeded" });
  expect(record.decisions).toEqual([
    expect.objectContaining({ kind: "delete-zombie-server", serverId: zombieId, outcome: "applied" }),
  ]);

  const metricsUrl = `http://127.0.0.1:${stack.env.WORKER_METRICS_PORT}/metrics`;
  const scheduled = await pollUntil(
    async () => {
      const text = await (await fetch(metricsUrl)).text();
      const count = /reconcile_sweeps_total\{outcome="succeeded"\} (\d+)/.exec(text)?.[1];
      return count !== undefined && Number(count) >= 3 ? text : undefined;
    },
    { timeoutMs: 20_000, intervalMs: 200, description: "two scheduled sweeps after the operator's" },
  );
  expect(scheduled).toContain('reconcile_decisions_total{kind="delete-zombie-server",outcome="applied"} 1');
  expect(stack.logs("worker").some((line) => line.json?.msg === "reconcile sweeps scheduled")).toBe(true);

  expect(await stack.stop("worker")).toBe(0);
});
