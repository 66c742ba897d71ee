/** A bundle build's inputs on loopback: the stand-in app repository and a registry of stand-in executables. */
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { BundleArchitecture } from "../../bundle/architecture.ts";
import { type BuildBundleOptions, buildBundle } from "../../bundle/build.ts";
import { createBundleStore } from "../../bundle/store.ts";
import { type AppRepo, createAppRepo } from "./app-repo.ts";
import { type FakeRegistry, type RegistryPackage, startFakeRegistry } from "./registry.ts";

export const BUN_VERSION = "1.4.5";
export const CLAUDE_CODE_VERSION = "2.1.337";

const STAND_IN_BUN = resolve(import.meta.dir, "../../sim/machine/offline/bun");
const STAND_IN_CLAUDE = `#!/bin/sh\n# stand-in Claude Code for bundle tests\necho "${CLAUDE_CODE_VERSION} (Claude Code)"\n`;

/** The simulator's stand-in bun and a stand-in claude, under the real package names for both architectures. */
export async function standInPackages(): Promise<RegistryPackage[]> {
  const bun = await readFile(STAND_IN_BUN);
  return [
    ...["x64", "aarch64"].map((cpu) => ({
      name: `@oven/bun-linux-${cpu}`,
      version: BUN_VERSION,
      files: [{ path: "bin/bun", content: bun, executable: true }],
    })),
    ...["x64", "arm64"].map((cpu) => ({
      name: `@anthropic-ai/claude-code-linux-${cpu}`,
      version: CLAUDE_CODE_VERSION,
      files: [
        { path: "claude", content: STAND_IN_CLAUDE, executable: true },
        { path: "README.md", content: "not part of the bundle\n" },
      ],
    })),
  ];
}

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
