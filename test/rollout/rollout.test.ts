/**
 * Fleet rollouts on the simulator: ready instances booted from the stand-in bundle, a new bundle rolled out
 * canary first then in batches, a crash-looping one halted after its canary with every instance still
 * running its old bundle, and a pause that stops new upgrades until resumed.
 */
import { describe, expect, test } from "bun:test";
import { eq } from "drizzle-orm";
import { pollUntil } from "../../core/wait.ts";
import { instances, rolloutMembers } from "../../db/schema.ts";
import { buildVariantBundle, crashOnStart } from "../../harness/upgrade/variant-bundle.ts";
import { pauseRollout, resumeRollout } from "../../jobs/rollout/request.ts";
import { loadMembers } from "../../jobs/rollout/store.ts";
import { rolloutWorldForFile } from "./world.ts";

const FLEET_SIZE = Number(process.env.ROLLOUT_TEST_FLEET ?? 50);

describe(`rollout over ${FLEET_SIZE} instances`, () => {
  const fixture = rolloutWorldForFile(FLEET_SIZE);

  const bundlesOf = () => {
    const { db } = fixture.current.world.runtime;
    return fixture.current.fleet.map((id) => {
      const row = db.select().from(instances).where(eq(instances.id, id)).get();
      return { id, status: row?.status, bundleId: row?.bundleId };
    });
  };

  test("upgrades the canary, promotes the bundle, then every batch", async () => {
    const { world, store, fleet } = fixture.current;
    await world.startWorker();
    await fixture.current.startRunner();
    const booted = (await store.current()).x64;
    const next = await buildVariantBundle(store.dir, "x64", async () => undefined);
    const rollout = await fixture.current.start(next, { canary: 2, batchSize: 12, maxFailures: 0 });
    expect(await store.current()).toEqual({ x64: booted });

    const done = await fixture.current.finished(rollout.id, 300_000);
    expect(done).toMatchObject({ status: "succeeded", haltReason: null });
    const members = loadMembers(world.runtime.db, rollout.id);
    expect(members.map((m) => m.instanceId)).toEqual(fleet);
    expect(members.every((m) => m.outcome === "upgraded" && m.fromBundleId === booted)).toBe(true);
    expect(bundlesOf().every((i) => i.status === "ready" && i.bundleId === next)).toBe(true);
    expect(await store.current()).toEqual({ x64: next });
    // Promoted once the canary had ended, before any batch began; each batch after the one before it.
    const canary = members.slice(0, 2);
    const promotedAt = done.promotedAt ?? 0;
    expect(Math.max(...canary.map((m) => m.finishedAt ?? Infinity))).toBeLessThanOrEqual(promotedAt);
    expect(Math.min(...members.slice(2).map((m) => m.startedAt ?? 0))).toBeGreaterThanOrEqual(promotedAt);
    for (let start = 2 + 12; start < members.length; start += 12) {
      const before = members.slice(start - 12, start);
      const batch = members.slice(start, start + 12);
      expect(Math.min(...batch.map((m) => m.startedAt ?? 0))).toBeGreaterThanOrEqual(
        Math.max(...before.map((m) => m.finishedAt ?? Infinity)),
      );
    }
  }, 600_000);

  test("a crash-looping bundle halts after its canary; every instance still runs the old bundle", async () => {
    const { world, store } = fixture.current;
    await world.startWorker();
    await fixture.current.startRunner();
    const good = (await store.current()).x64;
    const broken = await buildVariantBundle(store.dir, "x64", crashOnStart);
    const rollout = await fixture.current.start(broken, { canary: 2, batchSize: 10, maxFailures: 1 });
    const done = await fixture.current.finished(rollout.id, 300_000);
    expect(done.status).toBe("halted");
    expect(done.haltReason).toContain("2 upgrade(s) failed, more than the 1 allowed");
    expect(done.promotedAt).toBeNull();
    expect(await store.current()).toEqual({ x64: good });
    const members = loadMembers(world.runtime.db, rollout.id);
    expect(members.slice(0, 2).map((m) => m.outcome)).toEqual(["failed", "failed"]);
    expect(members[0]?.detail).toContain("upgrade_rolled_back");
    expect(members.slice(2).every((m) => m.outcome === "pending" && m.operationId === null)).toBe(true);
    expect(bundlesOf().every((i) => i.status === "ready" && i.bundleId === good)).toBe(true);
  }, 600_000);

  test("pause stops new upgrades until resumed", async () => {
    const { world, store } = fixture.current;
    await world.startWorker();
    await fixture.current.startRunner();
    const next = await buildVariantBundle(store.dir, "x64", async () => undefined);
    const rollout = await fixture.current.start(next, { canary: 1, batchSize: 4, maxFailures: 0 });
    const { db } = world.runtime;
    const deps = { ...fixture.current.requestDeps };
    expect(pauseRollout(deps).status).toBe("paused");
    // What was started before the pause finishes; nothing more starts.
    const settled = await pollUntil(
      () => {
        const members = loadMembers(db, rollout.id);
        return members.some((m) => m.outcome === "upgrading") ? undefined : members;
      },
      { timeoutMs: 60_000, description: "the upgrades in flight to end" },
    );
    await Bun.sleep(2_000);
    const later = loadMembers(db, rollout.id);
    expect(later.map((m) => m.outcome)).toEqual(settled.map((m) => m.outcome));
    expect(later.filter((m) => m.outcome === "pending").length).toBeGreaterThan(0);
    expect(() => pauseRollout(deps)).toThrow("is paused, not running");

    expect((await resumeRollout(deps)).status).toBe("running");
    expect((await fixture.current.finished(rollout.id, 300_000)).status).toBe("succeeded");
    expect(
      db
        .select()
        .from(rolloutMembers)
        .where(eq(rolloutMembers.rolloutId, rollout.id))
        .all()
        .every((m) => m.outcome === "upgraded"),
    ).toBe(true);
    expect(bundlesOf().every((i) => i.bundleId === next)).toBe(true);
  }, 600_000);
});
