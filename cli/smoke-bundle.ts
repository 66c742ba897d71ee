/**
 * The smoke's machine boots the operator's current app bundle: the one `bun run bundle` made current in
 * DATA_DIR/bundles for the server type's architecture, copied into the smoke's own throwaway data directory
 * (its stack serves bundles from there) and made current there. Never builds one itself: a build needs the
 * network and minutes, and what is proven should be what customers would get.
 */
import { copyFile } from "node:fs/promises";
import { basename, join } from "node:path";
import { architectureOfServerType } from "../bundle/architecture.ts";
import type { BundleManifest } from "../bundle/manifest.ts";
import { bundleStoreDir, createBundleStore } from "../bundle/store.ts";

/** The current bundle for `serverType` in `dataDir`, or why there is none (a sentence for the operator). */
export async function currentBundleFor(
  dataDir: string,
  serverType: string,
): Promise<{ manifest: BundleManifest } | { missing: string }> {
  const architecture = architectureOfServerType(serverType);
  const store = createBundleStore(bundleStoreDir(dataDir));
  const id = (await store.current())[architecture];
  const manifest = id === undefined ? null : await store.get(id);
  if (manifest !== null) return { manifest };
  return {
    missing:
      `no current ${architecture} app bundle in ${store.dir} (the machine's first boot fetches it from the ` +
      `control plane): run \`bun run bundle\` with this DATA_DIR first, or point DATA_DIR at the one that has it`,
  };
}

/** Copies the bundle from `fromDataDir` into `toDataDir`'s store and makes it current there. */
export async function carryBundle(
  manifest: BundleManifest,
  fromDataDir: string,
  toDataDir: string,
): Promise<void> {
  const from = createBundleStore(bundleStoreDir(fromDataDir));
  const to = createBundleStore(bundleStoreDir(toDataDir));
  const staged = await to.stagingDir();
  const archive = from.archivePath(manifest.id);
  await copyFile(archive, join(staged, basename(archive)));
  await to.commit(staged, manifest);
  await to.promote(manifest.id);
}
