/**
 * Fleet rollout benchmark on the simulator (fake machines running the real first-boot and release scripts,
 * real broker, in-process worker and rollout runner): provisions 50 instances booted from the stand-in
 * bundle, reporting the bundle bytes each provision fetched from the control plane (the bodies of the
 * public listener's bundle downloads), then rolls a new bundle out to all 50 (canary 2, batches of 10),
 * reporting instances upgraded per minute and bytes fetched per upgrade. `bun bench/rollout.ts`.
 */
import { bundleStoreDir, createBundleStore } from "../bundle/store.ts";
import { createLogger } from "../core/log.ts";
import { createMetrics } from "../core/metrics.ts";
import { pollUntil } from "../core/wait.ts";
import { startProvisionWorld } from "../harness/provision-job/world.ts";
import { buildVariantBundle } from "../harness/upgrade/variant-bundle.ts";
import { connectRolloutBroker } from "../jobs/rollout/broker.ts";
import { startRollout } from "../jobs/rollout/request.ts";
import { loadMembers, loadRollout } from "../jobs/rollout/store.ts";
import { brokerConnection } from "../queue/queue.ts";
import { startRolloutRunner } from "../worker/rollouts.ts";
import { type BenchFigure, figure, printFigures } from "./support/figures.ts";

const FLEET = 50;
const KB = 1000;

async function runRolloutBench(): Promise<BenchFigure[]> {
  const world = await startProvisionWorld();
  const { runtime } = world;
  const broker = connectRolloutBroker(brokerConnection(runtime.config));
  const runner = await startRolloutRunner({
    config: runtime.config,
    db: runtime.db,
    log: createLogger({ level: "silent" }),
    metrics: createMetrics(),
  });
  try {
    const worker = await world.startWorker();
    const requested = [];
    for (let n = 0; n < FLEET; n += 1) {
      const { customerId } = world.addCustomer(`bench${n}`);
      requested.push(await world.requests.requestProvision(customerId));
    }
    for (const { operationId } of requested) {
      const summary = await world.finish(operationId, 600_000);
      if (summary.status !== "succeeded") throw new Error(`provision failed: ${summary.errorMessage}`);
    }
    const bootBytes = world.callback.bundleBytesServed;

    const store = createBundleStore(bundleStoreDir(runtime.config.dataDir));
    const next = await buildVariantBundle(store.dir, "x64", async () => undefined);
    const deps = { db: runtime.db, store, broker, serverType: "cx23", now: Date.now };
    const rollout = await startRollout(deps, next, { canary: 2, batchSize: 10, maxFailures: 0 });
    const done = await pollUntil(
      () => {
        const row = loadRollout(runtime.db, rollout.id);
        return row?.finishedAt == null ? undefined : row;
      },
      { timeoutMs: 900_000, intervalMs: 100, description: "the rollout to finish" },
    );
    const upgraded = loadMembers(runtime.db, rollout.id).filter((m) => m.outcome === "upgraded").length;
    const minutes = ((done.finishedAt ?? 0) - done.createdAt) / 60_000;
    await worker.stop();
    return [
      figure("bundle bytes fetched per provision", bootBytes / FLEET / KB, "kB"),
      figure(
        "bundle bytes fetched per upgrade",
        (world.callback.bundleBytesServed - bootBytes) / FLEET / KB,
        "kB",
      ),
      figure(`rollout of ${FLEET} (canary 2, batches of 10), instances upgraded`, upgraded, ""),
      figure(`rollout of ${FLEET}, instances per minute`, upgraded / minutes, "/min"),
      figure(`rollout of ${FLEET}, wall`, minutes * 60, "s"),
    ];
  } finally {
    await runner.stop();
    await broker.close();
    await world.dispose();
  }
}

if (import.meta.main) {
  const met = printFigures(
    `fleet rollout: ${FLEET} instances on the simulator (fake machines, real release scripts)`,
    await runRolloutBench(),
  );
  process.exit(met ? 0 : 1);
}
