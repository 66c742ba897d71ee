/**
 * Builds one bundle: the app at a commit with its production dependencies, Bun and Claude Code for one
 * architecture, packed into a deterministic archive named by its sha256. Everything happens in a staging
 * directory that is moved into the store whole, so a failed or interrupted build leaves no bundle behind.
 */
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { checkoutApp } from "./app-source.ts";
import type { BundleArchitecture } from "./architecture.ts";
import { writeArchive } from "./archive.ts";
import { runTool } from "./command.ts";
import { BundleError } from "./errors.ts";
import { BUNDLE_LAYOUT, type BundleContents, type BundleManifest } from "./manifest.ts";
import { bunPackage, claudeCodePackage, fetchExecutable } from "./npm-package.ts";
import type { BundleStore } from "./store.ts";

const LOCKFILES = ["bun.lock", "bun.lockb"];

export interface BuildBundleOptions {
  store: BundleStore;
  architecture: BundleArchitecture;
  appRepoUrl: string;
  /** Branch, tag or commit id; the manifest records the commit id it resolved to. */
  appRef: string;
  bunVersion: string;
  claudeCodeVersion: string;
  /** npm registry of the Bun and Claude Code packages, no trailing slash. */
  registryUrl: string;
  /** The bun that installs the app's dependencies (the control plane's own; default this process's). */
  installerBun?: string;
  signal?: AbortSignal;
  /** Epoch ms; default Date.now. */
  now?: () => number;
}

export interface BuiltBundle {
  manifest: BundleManifest;
  /** True when the same inputs had already been built: the existing bundle is returned unchanged. */
  reused: boolean;
}

/** Builds (or finds) the bundle for these inputs; throws BundleError naming the part that failed. */
export async function buildBundle(options: BuildBundleOptions): Promise<BuiltBundle> {
  const now = options.now ?? Date.now;
  const startedAt = now();
  const staged = await options.store.stagingDir();
  const root = join(staged, "root");
  try {
    const fetchOptions = (destination: string) => ({
      registryUrl: options.registryUrl,
      cacheDir: join(options.store.dir, ".cache"),
      destination: join(root, destination),
      signal: options.signal,
    });
    // allSettled: a part still writing into the staging directory must not outlive its removal.
    const [app, ...executables] = await Promise.allSettled([
      prepareApp(join(root, BUNDLE_LAYOUT.app), options),
      fetchExecutable(bunPackage(options.architecture, options.bunVersion), fetchOptions(BUNDLE_LAYOUT.bun)),
      fetchExecutable(
        claudeCodePackage(options.architecture, options.claudeCodeVersion),
        fetchOptions(BUNDLE_LAYOUT.claude),
      ),
    ]);
    if (app.status === "rejected") throw app.reason;
    for (const part of executables) if (part.status === "rejected") throw part.reason;
    const appCommit = app.value;
    const contents: BundleContents = {
      format: 1,
      architecture: options.architecture,
      appRepoUrl: options.appRepoUrl,
      appRef: options.appRef,
      appCommit,
      bunVersion: options.bunVersion,
      claudeCodeVersion: options.claudeCodeVersion,
    };
    await Bun.write(join(root, BUNDLE_LAYOUT.contents), `${JSON.stringify(contents, null, 2)}\n`);
    const archive = await writeArchive(root, join(staged, "bundle.tar.gz"));
    await rm(root, { recursive: true, force: true });
    return await options.store.commit(staged, {
      ...contents,
      id: archive.sha256,
      sizeBytes: archive.sizeBytes,
      builtAt: startedAt,
      buildMs: Math.max(0, Math.round(now() - startedAt)),
    });
  } finally {
    await rm(staged, { recursive: true, force: true });
  }
}

/** The app's tree at its commit plus production dependencies exactly as its lockfile pins them. */
async function prepareApp(appDir: string, options: BuildBundleOptions): Promise<string> {
  const commit = await checkoutApp({
    repoUrl: options.appRepoUrl,
    ref: options.appRef,
    destination: appDir,
    signal: options.signal,
  });
  const lockfiles = await Promise.all(LOCKFILES.map((name) => Bun.file(join(appDir, name)).exists()));
  if (!lockfiles.some(Boolean)) {
    throw new BundleError(
      "app_lockfile_missing",
      `the app at ${commit} has no bun.lock: its dependencies would drift`,
    );
  }
  await runTool(
    {
      argv: [
        options.installerBun ?? process.execPath,
        "install",
        "--production",
        "--frozen-lockfile",
        // Scripts would run on the builder's CPU, not the target's, and would be code we did not pin.
        "--ignore-scripts",
        // Copies, not hard links into the builder's package cache.
        "--backend=copyfile",
        `--cpu=${options.architecture}`,
        "--os=linux",
      ],
      cwd: appDir,
      signal: options.signal,
    },
    "dependencies_failed",
  );
  return commit;
}
