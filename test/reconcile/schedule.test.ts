/**
 * The schedule: sweeps fired by the broker's job scheduler, consumed by two sweepers (as two worker
 * processes would), with operators' sweeps requested meanwhile. Hetzner answers slowly (a latency proxy in
 * front of the simulator), so sweeps would overlap if nothing kept them apart; none ever does.
 */
import { afterEach, beforeEach, expect, setDefaultTimeout, test } from "bun:test";
import { Queue } from "bunqueue/client";
import { createLogger } from "../../core/log.ts";
import { createMetrics } from "../../core/metrics.ts";
import { pollUntil } from "../../core/wait.ts";
import { sweeps } from "../../db/schema.ts";
import { startMachinelessSimulator } from "../../harness/reconcile/machineless-sim.ts";
import { type Runtime, startRuntime } from "../../harness/runner/harness.ts";
import { createHetznerClient, RateLimitBudget } from "../../hetzner/index.ts";
import { connectSweepBroker, sweepQueueName } from "../../jobs/reconcile/broker.ts";
import { requestOperatorSweep } from "../../jobs/reconcile/operator-sweep.ts";
import { SKIPPED_CODE } from "../../jobs/reconcile/sweep-store.ts";
import { brokerConnection } from "../../queue/queue.ts";
import type { Simulator } from "../../sim/index.ts";
import { type RunningSweeper, startSweeper } from "../../worker/sweeper.ts";

setDefaultTimeout(60_000);

/** Added to every Hetzner request, in ms: a sweep then takes longer than the 1 s schedule interval allows. */
const LATENCY_MS = 600;

let runtime: Runtime;
let sim: Simulator;
let proxy: ReturnType<typeof Bun.serve>;
const sweepers: RunningSweeper[] = [];

beforeEach(async () => {
  runtime = await startRuntime({ collectLogs: false });
  sim = await startMachinelessSimulator({ timeScale: 0 });
  proxy = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(request) {
      await Bun.sleep(LATENCY_MS);
      const url = new URL(request.url);
      return fetch(`${sim.baseUrl}${url.pathname}${url.search}`, {
        method: request.method,
        headers: request.headers,
      });
    },
  });
});

afterEach(async () => {
  await Promise.all(sweepers.splice(0).map((sweeper) => sweeper.stop()));
  await proxy.stop(true);
  await sim.stop();
  await runtime.dispose();
});

function startSlowSweeper(): Promise<RunningSweeper> {
  return startSweeper({
    config: { ...runtime.config, reconcileIntervalMs: 1000 },
    db: runtime.db,
    log: createLogger({ level: "silent" }),
    metrics: createMetrics(),
    hetznerFor: (onRequest) => ({
      all: [
        {
          name: "default",
          client: createHetznerClient({
            endpoint: `${proxy.url.origin}/v1`,
            token: sim.token,
            budget: new RateLimitBudget(),
            onRequest: (event) => onRequest("default", event),
          }),
        },
      ],
    }),
    busyRetryMs: 100,
  }).then((sweeper) => {
    sweepers.push(sweeper);
    return sweeper;
  });
}

test("scheduled and operator sweeps run through the broker, one at a time across two sweepers", async () => {
  await Promise.all([startSlowSweeper(), startSlowSweeper()]);
  const broker = connectSweepBroker(brokerConnection(runtime.config));
  const operatorIds = await Promise.all([
    requestOperatorSweep(runtime.db, broker, false, Date.now()),
    requestOperatorSweep(runtime.db, broker, true, Date.now()),
  ]);
  await broker.close();

  const ran = () =>
    runtime.db
      .select()
      .from(sweeps)
      .all()
      .filter((s) => s.errorCode !== SKIPPED_CODE);
  await pollUntil(
    () => {
      const finished = ran().filter((s) => s.status === "succeeded");
      const operatorDone = operatorIds.every((id) => finished.some((s) => s.id === id));
      return operatorDone && finished.filter((s) => s.trigger === "schedule").length >= 2;
    },
    { timeoutMs: 30_000, intervalMs: 50, description: "both operator sweeps and two scheduled sweeps" },
  );
  await Promise.all(sweepers.splice(0).map((sweeper) => sweeper.stop()));

  const intervals = ran()
    .map((s) => ({
      id: s.id,
      startedAt: s.startedAt ?? 0,
      finishedAt: s.finishedAt ?? Number.POSITIVE_INFINITY,
    }))
    .sort((a, b) => a.startedAt - b.startedAt);
  for (const [index, sweep] of intervals.entries()) {
    const previous = intervals[index - 1];
    if (previous) expect(sweep.startedAt).toBeGreaterThanOrEqual(previous.finishedAt);
  }
  const queue = new Queue(sweepQueueName, { connection: brokerConnection(runtime.config) });
  // Two sweepers upserted the schedule: still one scheduler.
  expect(await queue.getJobSchedulersCount()).toBe(1);
  await queue.disconnect();
});
