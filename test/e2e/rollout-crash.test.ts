/**
 * A rollout survives its worker being SIGKILLed mid-way: the rollout and its members live in the database,
 * the broker hands the rollout's job (and the upgrades in flight) to a fresh worker process once their
 * locks lapse, and it finishes with every instance upgraded once.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { resolve } from "node:path";
import { and, eq } from "drizzle-orm";
import { bundleStoreDir, createBundleStore } from "../../bundle/store.ts";
import { fakeCustomerSecrets } from "../../cli/demo-customer.ts";
import { httpReady, type ServiceProcess, startService } from "../../cli/service-process.ts";
import { pollUntil } from "../../core/wait.ts";
import { instances, operations } from "../../db/schema.ts";
import { buildVariantBundle } from "../../harness/upgrade/variant-bundle.ts";
import { connectRolloutBroker, type RolloutBroker } from "../../jobs/rollout/broker.ts";
import { startRollout } from "../../jobs/rollout/request.ts";
import { loadMembers, loadRollout } from "../../jobs/rollout/store.ts";
import { brokerConnection } from "../../queue/queue.ts";
import { type E2eWorld, startE2eWorld } from "./harness.ts";

const repoRoot = resolve(import.meta.dir, "../..");
const FLEET = 6;
let world: E2eWorld;
let broker: RolloutBroker | undefined;
let replacement: ServiceProcess | undefined;

beforeAll(async () => {
  world = await startE2eWorld();
}, 60_000);
afterAll(async () => {
  await broker?.close();
  await replacement?.stop(5000);
  await world?.dispose();
});

test("a worker killed mid-rollout: a new worker finishes it, each instance upgraded once", async () => {
  const fleet: string[] = [];
  for (let n = 0; n < FLEET; n += 1) {
    world.customers.upsert(`rollout-customer-${n}`, fakeCustomerSecrets(`rollout${n}`));
    const { instanceId, operationId } = await world.requests.requestProvision(`rollout-customer-${n}`);
    expect((await world.finish(operationId, 120_000)).status).toBe("succeeded");
    fleet.push(instanceId);
  }
  const store = createBundleStore(bundleStoreDir(world.config.dataDir));
  const next = await buildVariantBundle(store.dir, "x64", async () => undefined);
  broker = connectRolloutBroker(brokerConnection(world.config));
  const deps = { db: world.db, store, broker, serverType: world.config.serverType, now: Date.now };
  const rollout = await startRollout(deps, next, { canary: 1, batchSize: 2, maxFailures: 0 });

  // Killed once the canary passed and a batch is under way.
  await pollUntil(
    () => loadMembers(world.db, rollout.id).some((m) => m.position > 0 && m.outcome !== "pending"),
    {
      timeoutMs: 60_000,
      intervalMs: 20,
      description: "the first batch to start",
    },
  );
  const worker = world.stack.services.get("worker");
  if (!worker) throw new Error("the stack has no worker");
  worker.signal("SIGKILL");
  await worker.exited;
  const atKill = loadMembers(world.db, rollout.id).map((m) => m.outcome);
  expect(atKill).toContain("pending");
  expect(loadRollout(world.db, rollout.id)?.finishedAt).toBeNull();

  replacement = startService({
    name: "worker",
    entry: resolve(repoRoot, "worker/main.ts"),
    env: { ...world.env },
    cwd: repoRoot,
    isReady: httpReady(`http://127.0.0.1:${world.config.workerMetricsPort}/metrics`),
    onLine: (text) => world.lines.push({ service: "worker", text }),
  });
  await replacement.waitReady(30_000);
  const done = await pollUntil(
    () => {
      const row = loadRollout(world.db, rollout.id);
      return row?.finishedAt == null ? undefined : row;
    },
    { timeoutMs: 120_000, intervalMs: 100, description: `rollout ${rollout.id} to finish` },
  );
  expect(done.status).toBe("succeeded");
  expect(loadMembers(world.db, rollout.id).every((m) => m.outcome === "upgraded")).toBe(true);
  expect((await store.current()).x64).toBe(next);
  for (const instanceId of fleet) {
    const row = world.db.select().from(instances).where(eq(instances.id, instanceId)).get();
    expect(row).toMatchObject({ status: "ready", bundleId: next });
    const upgrades = world.db
      .select()
      .from(operations)
      .where(and(eq(operations.instanceId, instanceId), eq(operations.operation, "upgrade")))
      .all();
    expect(upgrades.map((op) => op.status)).toEqual(["succeeded"]);
  }
}, 300_000);
