/** A bundle build's inputs on loopback: the stand-in app repository and a registry of stand-in executables. */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { BundleArchitecture } from "../../bundle/architecture.ts";
import { type BuildBundleOptions, buildBundle } from "../../bundle/build.ts";
import { createBundleStore } from "../../bundle/store.ts";
import { type AppRepo, createAppRepo } from "../../sim/bundle/app-repo.ts";
import { type FakeRegistry, type RegistryPackage, startFakeRegistry } from "../../sim/bundle/registry.ts";
import {
  STAND_IN_BUN_VERSION as BUN_VERSION,
  STAND_IN_CLAUDE_CODE_VERSION as CLAUDE_CODE_VERSION,
  standInPackages,
} from "../../sim/bundle/stand-in.ts";

export { BUN_VERSION, CLAUDE_CODE_VERSION, standInPackages };

export interface BundleWorld {
  dir: string;
  dataDir: string;
  repo: AppRepo;
  registry: FakeRegistry;
  store: ReturnType<typeof createBundleStore>;
  build(
    architecture?: BundleArchitecture,
    overrides?: Partial<BuildBundleOptions>,
  ): ReturnType<typeof buildBundle>;
  close(): Promise<void>;
}

export interface BundleWorldOptions {
  withLockfile?: boolean;
  /** Packages the registry serves; default standInPackages(). */
  packages?: readonly RegistryPackage[];
}

export async function createBundleWorld(options: BundleWorldOptions = {}): Promise<BundleWorld> {
  const dir = await mkdtemp(join(tmpdir(), "bundle-world-"));
  const repo = await createAppRepo(join(dir, "app"), options.withLockfile ?? true);
  const registry = await startFakeRegistry(options.packages ?? (await standInPackages()));
  const dataDir = join(dir, "data");
  const store = createBundleStore(join(dataDir, "bundles"));
  return {
    dir,
    dataDir,
    repo,
    registry,
    store,
    build: (architecture = "x64", overrides = {}) =>
      buildBundle({
        store,
        architecture,
        appRepoUrl: repo.url,
        appRef: "main",
        bunVersion: BUN_VERSION,
        claudeCodeVersion: CLAUDE_CODE_VERSION,
        registryUrl: registry.url,
        ...overrides,
      }),
    async close() {
      await registry.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
