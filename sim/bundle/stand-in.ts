/**
 * The stand-in app bundle the simulated stacks (demo, dev, tests) boot: the stand-in app from a local git
 * repository, and the simulator's stand-in bun and Claude Code CLI served under their real package names by a
 * loopback registry, built by the real builder. Production never builds this: its operator runs
 * `bun run bundle` against the real app and registry.
 */
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { BundleArchitecture } from "../../bundle/architecture.ts";
import { buildBundle } from "../../bundle/build.ts";
import type { BundleManifest } from "../../bundle/manifest.ts";
import { createBundleStore } from "../../bundle/store.ts";
import { createAppRepo } from "./app-repo.ts";
import { type RegistryPackage, startFakeRegistry } from "./registry.ts";

export const STAND_IN_BUN_VERSION = "1.4.5";
/** The stand-in CLI's own version (sim/bundle/stand-in-app/claude). */
export const STAND_IN_CLAUDE_CODE_VERSION = "2.1.337";

const STAND_IN_APP = resolve(import.meta.dir, "stand-in-app");

/** The simulator's stand-in bun and claude, under the real package names for both architectures. */
export async function standInPackages(): Promise<RegistryPackage[]> {
  const [bun, claude] = await Promise.all([
    readFile(join(STAND_IN_APP, "bun")),
    readFile(join(STAND_IN_APP, "claude")),
  ]);
  return [
    ...["x64", "aarch64"].map((cpu) => ({
      name: `@oven/bun-linux-${cpu}`,
      version: STAND_IN_BUN_VERSION,
      files: [{ path: "bin/bun", content: bun, executable: true }],
    })),
    ...["x64", "arm64"].map((cpu) => ({
      name: `@anthropic-ai/claude-code-linux-${cpu}`,
      version: STAND_IN_CLAUDE_CODE_VERSION,
      files: [
        { path: "claude", content: claude, executable: true },
        { path: "README.md", content: "not part of the bundle\n" },
      ],
    })),
  ];
}

/**
 * Builds the stand-in bundle for `architecture` into `dataDir`'s bundle store and makes it current, unless
 * one is current already. Returns the current bundle's manifest.
 */
export async function ensureStandInBundle(
  bundlesDir: string,
  architecture: BundleArchitecture,
): Promise<BundleManifest> {
  const store = createBundleStore(bundlesDir);
  const current = (await store.current())[architecture];
  const existing = current === undefined ? null : await store.get(current);
  if (existing !== null) return existing;
  const dir = await mkdtemp(join(tmpdir(), "stand-in-bundle-"));
  const registry = await startFakeRegistry(await standInPackages());
  try {
    const repo = await createAppRepo(join(dir, "app"));
    const { manifest } = await buildBundle({
      store,
      architecture,
      appRepoUrl: repo.url,
      appRef: "main",
      bunVersion: STAND_IN_BUN_VERSION,
      claudeCodeVersion: STAND_IN_CLAUDE_CODE_VERSION,
      registryUrl: registry.url,
    });
    return await store.promote(manifest.id);
  } finally {
    await registry.stop();
    await rm(dir, { recursive: true, force: true });
  }
}
