/**
 * Bundles on the control plane's disk: `DATA_DIR/bundles/<id>/{bundle.tar.gz,manifest.json}`, which is
 * current per architecture (`current.json`), and retention. A bundle directory appears whole (renamed in
 * from `.staging/`) and disappears whole (renamed out before it is deleted), so a reader never sees half.
 */
import { randomUUID } from "node:crypto";
import { mkdir, readdir, rename, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod";
import { BUNDLE_ARCHITECTURES, type BundleArchitecture } from "./architecture.ts";
import { BundleError } from "./errors.ts";
import { type BundleManifest, bundleIdSchema, bundleManifestSchema } from "./manifest.ts";

const ARCHIVE = "bundle.tar.gz";
const MANIFEST = "manifest.json";
const CURRENT = "current.json";

const currentSchema = z.partialRecord(z.enum(BUNDLE_ARCHITECTURES), bundleIdSchema);
export type CurrentBundles = z.infer<typeof currentSchema>;

export interface BundleStore {
  readonly dir: string;
  /** A fresh directory under `.staging/` to build in; `commit` moves it into place. */
  stagingDir(): Promise<string>;
  /**
   * Moves a staged bundle (its archive and manifest already inside) to `<id>/`. When that bundle already
   * exists (same inputs, same bytes) the staged copy is dropped and the existing manifest returned.
   */
  commit(staged: string, manifest: BundleManifest): Promise<{ manifest: BundleManifest; reused: boolean }>;
  /** Every bundle, newest first; a directory without a readable manifest is not a bundle. */
  list(): Promise<BundleManifest[]>;
  /** The bundle's manifest, or null when there is no such bundle. */
  get(id: string): Promise<BundleManifest | null>;
  /** Path of the bundle's archive (exists while the bundle does). */
  archivePath(id: string): string;
  current(): Promise<CurrentBundles>;
  /** Makes `id` the bundle new servers of its architecture boot; throws BundleError for an unknown id. */
  promote(id: string): Promise<BundleManifest>;
  /**
   * Deletes the bundles of `architecture` beyond the newest `keep`, sparing the current one and every id in
   * `inUse`. Returns the deleted ids.
   */
  prune(architecture: BundleArchitecture, keep: number, inUse: ReadonlySet<string>): Promise<string[]>;
  /** Removes what builds killed mid-way left in `.staging/` before `olderThan` (epoch ms); returns how many. */
  removeAbandonedStaging(olderThan: number): Promise<number>;
}

/** The one place that names the bundle store inside DATA_DIR. */
export function bundleStoreDir(dataDir: string): string {
  return join(dataDir, "bundles");
}

export function createBundleStore(dir: string): BundleStore {
  const bundleDir = (id: string) => join(dir, bundleIdSchema.parse(id));

  const get = async (id: string): Promise<BundleManifest | null> => {
    if (!bundleIdSchema.safeParse(id).success) return null;
    const file = Bun.file(join(dir, id, MANIFEST));
    if (!(await file.exists())) return null;
    const parsed = bundleManifestSchema.safeParse(await file.json().catch(() => null));
    return parsed.success && parsed.data.id === id ? parsed.data : null;
  };

  const current = async (): Promise<CurrentBundles> => {
    const file = Bun.file(join(dir, CURRENT));
    if (!(await file.exists())) return {};
    const parsed = currentSchema.safeParse(await file.json().catch(() => null));
    if (!parsed.success)
      throw new BundleError("corrupt_bundle", `${join(dir, CURRENT)} is not a map of bundle ids`);
    return parsed.data;
  };

  const list = async (): Promise<BundleManifest[]> => {
    const names = await readdir(dir).catch((err: NodeJS.ErrnoException) => {
      if (err.code === "ENOENT") return [];
      throw err;
    });
    const manifests = await Promise.all(
      names.filter((name) => bundleIdSchema.safeParse(name).success).map(get),
    );
    return manifests
      .filter((manifest) => manifest !== null)
      .sort((a, b) => b.builtAt - a.builtAt || a.id.localeCompare(b.id));
  };

  /** Atomic replace: a crash leaves the old file or the new one, never a torn one. */
  const writeJson = async (name: string, value: unknown) => {
    const temporary = join(dir, `.${name}.${randomUUID()}`);
    await Bun.write(temporary, `${JSON.stringify(value, null, 2)}\n`);
    await rename(temporary, join(dir, name));
  };

  return {
    dir,
    archivePath: (id) => join(bundleDir(id), ARCHIVE),
    get,
    list,
    current,
    async stagingDir() {
      const staged = join(dir, ".staging", randomUUID());
      await mkdir(staged, { recursive: true });
      return staged;
    },
    async commit(staged, manifest) {
      await Bun.write(join(staged, MANIFEST), `${JSON.stringify(manifest, null, 2)}\n`);
      const existing = await get(manifest.id);
      if (existing !== null) {
        await rm(staged, { recursive: true, force: true });
        return { manifest: existing, reused: true };
      }
      try {
        await rename(staged, bundleDir(manifest.id));
      } catch (err) {
        // A concurrent build of the same inputs moved its identical copy in first.
        const code = (err as NodeJS.ErrnoException).code;
        const winner = await get(manifest.id);
        if ((code !== "ENOTEMPTY" && code !== "EEXIST") || winner === null) throw err;
        await rm(staged, { recursive: true, force: true });
        return { manifest: winner, reused: true };
      }
      return { manifest, reused: false };
    },
    async promote(id) {
      const manifest = await get(id);
      if (manifest === null) throw new BundleError("unknown_bundle", `no bundle ${id} in ${dir}`);
      await writeJson(CURRENT, { ...(await current()), [manifest.architecture]: id });
      return manifest;
    },
    async prune(architecture, keep, inUse) {
      const currentId = (await current())[architecture];
      const ofArchitecture = (await list()).filter((manifest) => manifest.architecture === architecture);
      const doomed = ofArchitecture
        .slice(keep)
        .map((manifest) => manifest.id)
        .filter((id) => id !== currentId && !inUse.has(id));
      for (const id of doomed) {
        const trash = join(dir, ".staging", `deleted-${id}-${randomUUID()}`);
        await mkdir(join(dir, ".staging"), { recursive: true });
        await rename(bundleDir(id), trash);
        await rm(trash, { recursive: true, force: true });
      }
      return doomed;
    },
    async removeAbandonedStaging(olderThan) {
      const stagingRoot = join(dir, ".staging");
      const entries = await readdir(stagingRoot).catch((err: NodeJS.ErrnoException) => {
        if (err.code === "ENOENT") return [];
        throw err;
      });
      let removed = 0;
      for (const entry of entries) {
        const path = join(stagingRoot, entry);
        const { mtimeMs } = await stat(path);
        if (mtimeMs >= olderThan) continue;
        await rm(path, { recursive: true, force: true });
        removed += 1;
      }
      return removed;
    },
  };
}
