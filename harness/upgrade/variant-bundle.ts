/**
 * Bundles of the stand-in app other than the current one, for upgrade tests: the same app with one file
 * changed (a new version, or one whose app crash-loops), built by the real builder into the world's store.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { BundleArchitecture } from "../../bundle/architecture.ts";
import { buildBundle } from "../../bundle/build.ts";
import { createBundleStore } from "../../bundle/store.ts";
import { createAppRepo } from "../../sim/bundle/app-repo.ts";
import { startFakeRegistry } from "../../sim/bundle/registry.ts";
import {
  STAND_IN_BUN_VERSION,
  STAND_IN_CLAUDE_CODE_VERSION,
  standInPackages,
} from "../../sim/bundle/stand-in.ts";

/** Builds the stand-in app after `change` edited its checkout (then committed); returns the bundle id. */
export async function buildVariantBundle(
  bundlesDir: string,
  architecture: BundleArchitecture,
  change: (appDir: string) => Promise<void>,
): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "variant-bundle-"));
  const registry = await startFakeRegistry(await standInPackages());
  try {
    const repo = await createAppRepo(join(dir, "app"));
    await change(repo.dir);
    await repo.commitChange(`// variant ${dir}`);
    const { manifest } = await buildBundle({
      store: createBundleStore(bundlesDir),
      architecture,
      appRepoUrl: repo.url,
      appRef: "main",
      bunVersion: STAND_IN_BUN_VERSION,
      claudeCodeVersion: STAND_IN_CLAUDE_CODE_VERSION,
      registryUrl: registry.url,
    });
    return manifest.id;
  } finally {
    await registry.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

/** Makes the app exit 1 on every start, after a line in its journal: systemd's restarts make it a crash loop. */
export async function crashOnStart(appDir: string): Promise<void> {
  const path = join(appDir, "rachel8.sh");
  const script = await Bun.file(path).text();
  await Bun.write(
    path,
    script.replace("set -eu\n", 'set -eu\necho "Rachel8: broken build, exiting" >&2\nexit 1\n'),
  );
}
