/**
 * A fleet for rollout tests: the provision world (simulator with fake machines booted from the stand-in
 * bundle, real broker, in-process worker) with `size` ready instances, the rollout runner in this process,
 * and the rollout requests as the API makes them.
 */
import { afterAll, afterEach, beforeAll } from "bun:test";
import { type BundleStore, bundleStoreDir, createBundleStore } from "../../bundle/store.ts";
import { createLogger } from "../../core/log.ts";
import { createMetrics } from "../../core/metrics.ts";
import { pollUntil } from "../../core/wait.ts";
import { type ProvisionWorld, provisionWorldForFile } from "../../harness/provision-job/world.ts";
import { connectRolloutBroker, type RolloutBroker } from "../../jobs/rollout/broker.ts";
import { type RolloutRequestDeps, type RolloutSettings, startRollout } from "../../jobs/rollout/request.ts";
import type { RolloutRow } from "../../jobs/rollout/store.ts";
import { loadRollout } from "../../jobs/rollout/store.ts";
import { brokerConnection } from "../../queue/queue.ts";
import { type RunningRolloutRunner, startRolloutRunner } from "../../worker/rollouts.ts";

export interface RolloutWorld {
  world: ProvisionWorld;
  store: BundleStore;
  broker: RolloutBroker;
  requestDeps: RolloutRequestDeps;
  /** The ready instances, oldest first. */
  fleet: string[];
  startRunner(): Promise<RunningRolloutRunner>;
  start(bundleId: string, settings: RolloutSettings): Promise<RolloutRow>;
  /** Waits for the rollout to finish and returns its record. */
  finished(rolloutId: string, timeoutMs?: number): Promise<RolloutRow>;
}

export function rolloutWorldForFile(size: number): { readonly current: RolloutWorld } {
  const fixture = provisionWorldForFile();
  let current: RolloutWorld | undefined;
  const runners: RunningRolloutRunner[] = [];
  beforeAll(async () => {
    const world = fixture.current;
    const { runtime } = world;
    const provisioner = await world.startWorker();
    const requested = [];
    for (let n = 0; n < size; n += 1) {
      const { customerId } = world.addCustomer(`fleet${n}`);
      requested.push(await world.requests.requestProvision(customerId));
    }
    for (const { operationId } of requested) {
      const summary = await world.finish(operationId, 300_000);
      if (summary.status !== "succeeded") throw new Error(`provision failed: ${summary.errorMessage}`);
    }
    // Each test starts its own worker (the world stops them after each test).
    await provisioner.stop();
    const store = createBundleStore(bundleStoreDir(runtime.config.dataDir));
    const broker = connectRolloutBroker(brokerConnection(runtime.config));
    const requestDeps = { db: runtime.db, store, broker, serverType: "cx23", now: Date.now };
    current = {
      world,
      store,
      broker,
      requestDeps,
      fleet: requested.map((r) => r.instanceId),
      async startRunner() {
        const runner = await startRolloutRunner({
          config: runtime.config,
          db: runtime.db,
          log: createLogger({ level: "silent" }),
          metrics: createMetrics(),
        });
        runners.push(runner);
        return runner;
      },
      start: (bundleId, settings) => startRollout(requestDeps, bundleId, settings),
      finished: (rolloutId, timeoutMs = 120_000) =>
        pollUntil(
          () => {
            const row = loadRollout(runtime.db, rolloutId);
            return row?.finishedAt == null ? undefined : row;
          },
          { timeoutMs, intervalMs: 100, description: `rollout ${rolloutId} to finish` },
        ),
    };
  }, 600_000);
  // Before the world's own hooks dispose of the broker: a client closing against no broker waits forever.
  afterEach(async () => {
    await Promise.all(runners.splice(0).map((runner) => runner.stop()));
  }, 30_000);
  afterAll(async () => {
    await current?.broker.close();
  });
  return {
    get current() {
      if (!current) throw new Error("the rollout world exists only inside a test");
      return current;
    },
  };
}
