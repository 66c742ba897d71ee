/** The bundle list `ops bundles` shows: every bundle on disk, which is current, and which instances run it. */
import type { BundleArchitecture } from "../../bundle/architecture.ts";
import type { BundleManifest } from "../../bundle/manifest.ts";
import type { BundleStore, CurrentBundles } from "../../bundle/store.ts";
import type { Db } from "../../db/index.ts";
import { instancesByBundle } from "../bundles/usage.ts";

export interface BundleView extends BundleManifest {
  /** Whether new servers of its architecture boot this bundle. */
  current: boolean;
  /** Live instances recorded as running it. */
  instances: string[];
}

export interface BundleList {
  bundles: BundleView[];
  current: CurrentBundles;
  /** Instances that run a bundle no longer on disk (deleted by hand): an upgrade moves them on. */
  missing: { bundleId: string; instances: string[] }[];
}

export async function listBundles(store: BundleStore, db: Db): Promise<BundleList> {
  const [manifests, current] = await Promise.all([store.list(), store.current()]);
  const running = instancesByBundle(db);
  const isCurrent = (id: string, architecture: BundleArchitecture) => current[architecture] === id;
  const known = new Set(manifests.map((manifest) => manifest.id));
  return {
    bundles: manifests.map((manifest) => ({
      ...manifest,
      current: isCurrent(manifest.id, manifest.architecture),
      instances: running.get(manifest.id) ?? [],
    })),
    current,
    missing: [...running]
      .filter(([bundleId]) => !known.has(bundleId))
      .map(([bundleId, instances]) => ({ bundleId, instances })),
  };
}
