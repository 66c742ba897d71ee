/**
 * The upgrade job end to end on a fake machine booted from the current bundle: a new bundle is fetched over
 * the machine's way to the control plane, switched to and verified; a bundle whose app crash-loops is
 * switched back from, the old one running again. What the app wrote stays as it was either way.
 */
import { describe, expect, test } from "bun:test";
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { bundleStoreDir, createBundleStore } from "../../bundle/store.ts";
import { bundleGrants } from "../../db/schema.ts";
import { RACHEL8_PATHS } from "../../domain/rachel8.ts";
import { buildVariantBundle, crashOnStart } from "../../harness/upgrade/variant-bundle.ts";
import { requestUpgrade, UpgradeRefusedError } from "../../jobs/upgrade/request.ts";
import { reconfigureWorldForFile } from "../reconfigure/world.ts";

describe("upgrade job", () => {
  const fixture = reconfigureWorldForFile();

  const upgrade = (instanceId: string, bundle?: string) => {
    const { world } = fixture.current;
    const { runtime } = world;
    return requestUpgrade(
      {
        db: runtime.db,
        queue: runtime.queue,
        sealer: world.sealer,
        store: createBundleStore(bundleStoreDir(runtime.config.dataDir)),
        serverType: runtime.config.serverType,
        now: Date.now,
      },
      instanceId,
      bundle,
    );
  };

  /** Files the app (and the CLI) wrote, outside every release. */
  const APP_DATA = ["rachel8/data/memory.json", "shared/notes.txt"] as const;

  test("moves to the new bundle, then rolls back from a crash-looping one; app data intact, grants ended", async () => {
    const { world, homePath, releasePath } = fixture.current;
    await world.startWorker();
    const { instanceId } = await fixture.current.provisioned("upgrade");
    const bundlesDir = bundleStoreDir(world.runtime.config.dataDir);
    const booted = world.instance(instanceId).bundleId;
    expect(booted).toMatch(/^[0-9a-f]{64}$/);
    for (const file of APP_DATA) {
      mkdirSync(dirname(homePath(instanceId, file)), { recursive: true });
      writeFileSync(homePath(instanceId, file), `written by the app: ${file}\n`);
    }
    const credentials = readFileSync(homePath(instanceId, RACHEL8_PATHS.credentials), "utf8");

    const next = await buildVariantBundle(bundlesDir, "x64", async () => undefined);
    const first = await upgrade(instanceId, next);
    expect(first).toMatchObject({ instanceId, bundleId: next, created: true });
    const upgraded = await world.finish(first.operationId);
    expect(upgraded).toMatchObject({ status: "succeeded" });
    expect(upgraded.phases.map((phase) => phase.step)).toEqual([
      "stage-release",
      "switch-release",
      "verify-release",
    ]);
    expect(world.instance(instanceId)).toMatchObject({ status: "ready", bundleId: next });
    expect(JSON.parse(readFileSync(releasePath(instanceId, "bundle.json"), "utf8"))).toBeDefined();
    expect(releasePath(instanceId, "")).toContain(next);

    const broken = await buildVariantBundle(bundlesDir, "x64", crashOnStart);
    const second = await upgrade(instanceId, broken);
    const rolledBack = await world.finish(second.operationId, 90_000);
    expect(rolledBack).toMatchObject({ status: "failed" });
    expect(rolledBack.errorMessage).toContain("runs again");
    expect(world.instance(instanceId)).toMatchObject({
      status: "ready",
      bundleId: next,
      errorCode: "upgrade_rolled_back",
    });
    expect(releasePath(instanceId, "")).toContain(next);
    // Staging removed the booted release: the server keeps the current one and the one it tried.
    const releasesDir = dirname(releasePath(instanceId, ""));
    expect(
      readdirSync(releasesDir)
        .filter((name) => !name.startsWith("."))
        .sort(),
    ).toEqual([next, broken].sort());

    // An operator's retry runs again with its grant renewed: the broken release is fetched anew.
    rmSync(join(releasesDir, broken), { recursive: true });
    await world.runtime.queue.retry(instanceId, "upgrade");
    const retried = await world.finish(second.operationId, 90_000);
    expect(retried).toMatchObject({ status: "failed" });
    expect(retried.errorMessage).toContain("runs again");
    expect(readdirSync(releasesDir)).toContain(broken);
    expect(world.instance(instanceId)).toMatchObject({
      status: "ready",
      bundleId: next,
      errorCode: "upgrade_rolled_back",
    });

    for (const file of APP_DATA) {
      expect(readFileSync(homePath(instanceId, file), "utf8")).toBe(`written by the app: ${file}\n`);
    }
    expect(readFileSync(homePath(instanceId, RACHEL8_PATHS.credentials), "utf8")).toBe(credentials);
    const grants = world.runtime.db.select().from(bundleGrants).all();
    const upgradeGrants = grants.filter((grant) => grant.purpose === "upgrade");
    expect(upgradeGrants.map((grant) => grant.id).sort()).toEqual(
      [first.operationId, second.operationId].sort(),
    );
    expect(upgradeGrants.every((grant) => grant.endedAt !== null)).toBe(true);
    const outside = JSON.stringify(world.runtime.logs);
    for (const grant of upgradeGrants) expect(outside).not.toContain(grant.token);

    // Again to the bundle it runs: nothing to fetch, and it still verifies.
    const again = await upgrade(instanceId, next);
    expect(await world.finish(again.operationId)).toMatchObject({ status: "succeeded" });
    expect(world.instance(instanceId)).toMatchObject({ status: "ready", bundleId: next });
  }, 180_000);

  test("is refused while another operation on the instance is in flight", async () => {
    const { world } = fixture.current;
    const { customerId } = world.addCustomer("busy");
    const requested = await world.requests.requestProvision(customerId);
    const refusal = await upgrade(requested.instanceId).catch((err: unknown) => err);
    expect(refusal).toBeInstanceOf(UpgradeRefusedError);
    expect((refusal as UpgradeRefusedError).code).toBe("instance_busy");
    await world.startWorker();
    await world.finish(requested.operationId);
  }, 60_000);
});
