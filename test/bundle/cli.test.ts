import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { resolve } from "node:path";
import { eq } from "drizzle-orm";
import { bundleStoreDir, createBundleStore } from "../../bundle/store.ts";
import { generateDevSecrets } from "../../core/config.ts";
import { instances } from "../../db/schema.ts";
import type { BundleList } from "../../domain/ops/bundles.ts";
import { type BundleWorld, createBundleWorld } from "../../harness/bundle/world.ts";
import { opsApiForFile } from "../ops/ops-api.ts";
import { runOps } from "../ops/run-ops.ts";
import { runCommand } from "../support/run-command.ts";

const repoRoot = resolve(import.meta.dir, "../..");
const file = opsApiForFile();
let world: BundleWorld;
beforeAll(async () => {
  world = await createBundleWorld();
});
afterAll(() => world.close());

/** `bun run bundle` as an operator runs it, against the runtime's DATA_DIR and database. */
function bundleCli(args: string[], env: Record<string, string> = {}) {
  const { BROKER_TOKEN, SECRETS_KEY } = generateDevSecrets();
  return runCommand(["bun", "cli/bundle.ts", ...args], {
    cwd: repoRoot,
    timeoutMs: 60_000,
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      DATA_DIR: file.runtime.config.dataDir,
      BROKER_TOKEN,
      SECRETS_KEY,
      HCLOUD_TOKEN: "unused-by-bundle",
      APP_REPO_URL: world.repo.url,
      NPM_REGISTRY_URL: world.registry.url,
      BUNDLE_KEEP: "1",
      ...env,
    },
  });
}

const opsBundles = async (...args: string[]) =>
  runOps(["bundles", ...args], {
    OPS_API_URL: file.ops.api.url,
    OPS_TOKEN: "ops-token-for-tests-0123456789-abcdefgh",
  });

describe("bun run bundle and ops bundles", () => {
  test("builds for the server type's architecture; the first becomes current, later ones only with --promote", async () => {
    const first = await bundleCli([], { SERVER_TYPE: "cax11" });
    expect(first.stderr).toBe("");
    expect(first.exitCode).toBe(0);
    const store = createBundleStore(bundleStoreDir(file.runtime.config.dataDir));
    const [built] = await store.list();
    expect(built?.architecture).toBe("arm64");
    expect(first.stdout).toContain(`arm64 ${built?.id}`);
    expect(first.stdout).toContain(`arm64 current: ${built?.id}`);

    const x64 = await bundleCli([]);
    expect(x64.exitCode).toBe(0);
    const current = await store.current();
    expect(Object.keys(current).sort()).toEqual(["arm64", "x64"]);

    await world.repo.commitChange("// release 2");
    const unpromoted = await bundleCli([]);
    expect(unpromoted.exitCode).toBe(0);
    expect(unpromoted.stdout).not.toContain("current:");
    expect((await store.current()).x64).toBe(current.x64);

    // An instance runs the current x64 bundle; with BUNDLE_KEEP=1 a third build still spares it.
    file.runtime.db
      .insert(instances)
      .values({ id: "i-runs", createdAt: 1, updatedAt: 1, status: "ready" })
      .run();
    file.runtime.db.update(instances).set({ bundleId: current.x64 }).where(eq(instances.id, "i-runs")).run();
    await world.repo.commitChange("// release 3");
    const promoted = await bundleCli(["--promote"]);
    expect(promoted.exitCode).toBe(0);
    expect(promoted.stdout).toContain("x64 current:");
    expect(promoted.stdout).toContain("x64 deleted old bundle");
    const x64Ids = (await store.list()).filter((b) => b.architecture === "x64").map((b) => b.id);
    expect(x64Ids).toHaveLength(2);
    expect(x64Ids).toContain(current.x64 ?? "");

    const listed = await opsBundles("--json");
    expect(listed.exitCode).toBe(0);
    const answer = JSON.parse(listed.stdout) as BundleList;
    expect(answer.bundles).toHaveLength(3);
    expect(answer.bundles.find((b) => b.id === current.x64)).toMatchObject({
      current: false,
      instances: ["i-runs"],
    });
    expect(
      answer.bundles
        .filter((b) => b.current)
        .map((b) => b.architecture)
        .sort(),
    ).toEqual(["arm64", "x64"]);

    const table = await opsBundles();
    expect(table.exitCode).toBe(0);
    expect(table.stdout).toContain("current");
    expect(table.stdout).toContain("i-runs");
    expect(table.stdout).toContain(current.x64?.slice(0, 12) ?? "?");
  });

  test("a failed build names what failed and exits 1; a bad option exits 2", async () => {
    const failed = await bundleCli([], { APP_REF: "no-such-branch" });
    expect(failed.exitCode).toBe(1);
    expect(failed.stderr).toStartWith("bundle: app_checkout_failed: git --git-dir=");
    const usage = await bundleCli(["--nope"]);
    expect(usage.exitCode).toBe(2);
    expect(usage.stderr).toContain("--nope");
  });
});
