/**
 * One delivery after another of a rollout, with no worker: the members' upgrade operations are recorded in
 * a real database and broker, and the test ends them by hand as the upgrade job would. Shows waiting on a
 * busy instance, skipping a cancelled one, adopting a server provisioned during the rollout, and the halt
 * that upgrades a degraded member back to its old bundle.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { and, eq } from "drizzle-orm";
import { bundleStoreDir, createBundleStore } from "../../bundle/store.ts";
import { createLogger } from "../../core/log.ts";
import { createMetrics } from "../../core/metrics.ts";
import { createSealer } from "../../core/secrets.ts";
import { pollUntil } from "../../core/wait.ts";
import { instances, operations, rolloutMembers, rollouts } from "../../db/schema.ts";
import { type Runtime, startRuntime } from "../../harness/runner/harness.ts";
import { buildVariantBundle } from "../../harness/upgrade/variant-bundle.ts";
import { deliverRollout, type RolloutDeps } from "../../jobs/rollout/deliver.ts";
import { startRollout } from "../../jobs/rollout/request.ts";
import { loadMembers, loadRollout } from "../../jobs/rollout/store.ts";
import { ensureStandInBundle } from "../../sim/bundle/stand-in.ts";
import { startRolloutRunner } from "../../worker/rollouts.ts";
import { seedInstance, seedOperation } from "../ops/seed.ts";

let runtime: Runtime;
let deps: RolloutDeps;
let oldBundle: string;
let newBundle: string;

beforeAll(async () => {
  runtime = await startRuntime();
  const store = createBundleStore(bundleStoreDir(runtime.config.dataDir));
  oldBundle = (await ensureStandInBundle(store.dir, "x64")).id;
  newBundle = await buildVariantBundle(store.dir, "x64", async () => undefined);
  deps = {
    db: runtime.db,
    queue: runtime.queue,
    sealer: createSealer(runtime.config.secretsKeys),
    store,
    serverType: "cx23",
    now: Date.now,
    log: createLogger({ level: "silent" }),
  };
}, 60_000);
afterAll(async () => {
  await runtime?.dispose();
});

const noBroker = { runNow: async () => undefined };

/** Ends the member's upgrade as the upgrade job would, leaving the instance in `status` on `bundleId`. */
function endUpgrade(
  rolloutId: string,
  instanceId: string,
  how: { ok: boolean; code?: string; status?: string },
) {
  const { db } = runtime;
  const member = loadMembers(db, rolloutId).find((m) => m.instanceId === instanceId);
  const operationId = member?.operationId ?? "";
  db.update(operations)
    .set({
      status: how.ok ? "succeeded" : "failed",
      errorCode: how.code ?? null,
      errorMessage: "by the test",
    })
    .where(eq(operations.id, operationId))
    .run();
  db.update(instances)
    .set({ status: how.status ?? "ready", bundleId: how.ok ? newBundle : oldBundle })
    .where(eq(instances.id, instanceId))
    .run();
}

function finishRollouts() {
  runtime.db.update(rollouts).set({ finishedAt: Date.now() }).run();
}

describe("rollout deliveries", () => {
  test("a busy member waits, a cancelled one is skipped, a late server joins before the end", async () => {
    const { db } = runtime;
    const now = Date.now();
    const [a, b, c] = [1, 2, 3].map((n) =>
      seedInstance(db, { createdAt: now + n, bundleId: oldBundle, hetznerServerId: n }),
    );
    if (!a || !b || !c) throw new Error("seeded three");
    const reconfigure = seedOperation(db, {
      instanceId: b,
      operation: "reconfigure",
      status: "parked",
      createdAt: now,
    });
    const rollout = await startRollout({ ...deps, broker: noBroker }, newBundle, {
      canary: 1,
      batchSize: 5,
      maxFailures: 0,
    });

    expect(await deliverRollout(deps, rollout.id)).toBe("continue");
    expect(loadMembers(db, rollout.id).map((m) => m.outcome)).toEqual(["upgrading", "pending", "pending"]);
    endUpgrade(rollout.id, a, { ok: true });
    const late = seedInstance(db, { createdAt: now + 10, bundleId: oldBundle, hetznerServerId: 10 });

    await deliverRollout(deps, rollout.id);
    expect(loadRollout(db, rollout.id)?.promotedAt).not.toBeNull();
    expect((await deps.store.current()).x64).toBe(newBundle);
    const [, busy, started] = loadMembers(db, rollout.id);
    expect(busy).toMatchObject({ outcome: "pending", operationId: null });
    expect(busy?.detail).toContain(`has a reconfigure in flight (job ${reconfigure})`);
    expect(started?.outcome).toBe("upgrading");
    // A deprovision cancelled c's upgrade: it left the fleet, which is no failure of the bundle.
    endUpgrade(rollout.id, c, { ok: false, code: "cancelled", status: "deprovisioning" });
    db.update(operations).set({ status: "succeeded" }).where(eq(operations.id, reconfigure)).run();

    await deliverRollout(deps, rollout.id);
    expect(loadMembers(db, rollout.id).map((m) => m.outcome)).toEqual(["upgraded", "upgrading", "skipped"]);
    endUpgrade(rollout.id, b, { ok: true });
    // All members ended: the server provisioned meanwhile (booted before the promotion) joins.
    expect(await deliverRollout(deps, rollout.id)).toBe("continue");
    expect(loadMembers(db, rollout.id).map((m) => m.instanceId)).toEqual([a, b, c, late]);
    await deliverRollout(deps, rollout.id);
    endUpgrade(rollout.id, late, { ok: true });
    expect(await deliverRollout(deps, rollout.id)).toBe("finished");
    expect(loadRollout(db, rollout.id)).toMatchObject({ status: "succeeded" });
    expect(await deliverRollout(deps, rollout.id)).toBe("finished");
    finishRollouts();
  }, 30_000);

  test("a halt upgrades a member its failed upgrade left degraded back to its old bundle", async () => {
    const { db } = runtime;
    db.update(instances).set({ status: "deprovisioned" }).run();
    await deps.store.promote(oldBundle);
    const now = Date.now();
    const [a, b, c] = [1, 2, 3].map((n) =>
      seedInstance(db, { createdAt: now + n, bundleId: oldBundle, hetznerServerId: 20 + n }),
    );
    if (!a || !b || !c) throw new Error("seeded three");
    const rollout = await startRollout({ ...deps, broker: noBroker }, newBundle, {
      canary: 2,
      batchSize: 1,
      maxFailures: 0,
    });
    await deliverRollout(deps, rollout.id);
    endUpgrade(rollout.id, a, { ok: false, code: "upgrade_rolled_back" });
    endUpgrade(rollout.id, b, { ok: false, code: "switch_refused", status: "degraded" });

    expect(await deliverRollout(deps, rollout.id)).toBe("continue");
    const halted = loadRollout(db, rollout.id);
    expect(halted).toMatchObject({ status: "halted", promotedAt: null, finishedAt: null });
    expect((await deps.store.current()).x64).toBe(oldBundle);
    const back = loadMembers(db, rollout.id).find((m) => m.instanceId === b)?.rollbackOperationId;
    expect(back).toMatch(/^upgrade:/);
    expect(loadMembers(db, rollout.id).find((m) => m.instanceId === a)?.rollbackOperationId).toBeNull();
    const waiting = db
      .select()
      .from(rolloutMembers)
      .where(and(eq(rolloutMembers.rolloutId, rollout.id), eq(rolloutMembers.instanceId, c)))
      .get();
    expect(waiting?.outcome).toBe("pending");

    await deliverRollout(deps, rollout.id);
    expect(loadRollout(db, rollout.id)?.finishedAt).toBeNull();
    db.update(operations)
      .set({ status: "succeeded" })
      .where(eq(operations.id, back ?? ""))
      .run();
    db.update(instances).set({ status: "ready" }).where(eq(instances.id, b)).run();
    expect(await deliverRollout(deps, rollout.id)).toBe("finished");
    expect(loadRollout(db, rollout.id)?.status).toBe("halted");
  }, 30_000);

  test("a worker starting finds a rollout whose job the broker never took, and runs it", async () => {
    const { db } = runtime;
    db.update(instances).set({ status: "deprovisioned" }).run();
    await deps.store.promote(oldBundle);
    const instanceId = seedInstance(db, { createdAt: Date.now(), bundleId: oldBundle, hetznerServerId: 40 });
    const rollout = await startRollout({ ...deps, broker: noBroker }, newBundle, {
      canary: 1,
      batchSize: 1,
      maxFailures: 0,
    });
    const runner = await startRolloutRunner({
      config: runtime.config,
      db,
      log: createLogger({ level: "silent" }),
      metrics: createMetrics(),
    });
    try {
      const started = await pollUntil(
        () => loadMembers(db, rollout.id).find((m) => m.instanceId === instanceId && m.operationId !== null),
        { timeoutMs: 10_000, description: "the canary's upgrade to be requested" },
      );
      expect(started.operationId).toBe(`upgrade:${instanceId}:1`);
    } finally {
      await runner.stop();
      finishRollouts();
    }
  }, 30_000);
});
