/**
 * `bun run bundle [--promote]`: builds the app bundle for every CPU architecture the configured server type
 * needs (see docs/bundle.md), makes it current when asked to or when there is none yet, and deletes old
 * bundles beyond BUNDLE_KEEP that nothing runs. Exit codes: 0 built, 1 a build failed (why printed),
 * 2 wrong command line.
 */
import { parseArgs } from "node:util";
import { architecturesFor } from "../bundle/architecture.ts";
import { buildBundle } from "../bundle/build.ts";
import { BundleError } from "../bundle/errors.ts";
import { bundleStoreDir, createBundleStore } from "../bundle/store.ts";
import { loadConfigOrExit } from "../core/config.ts";
import { appDatabasePath, migrateDatabase, openDatabase } from "../db/index.ts";
import { bundlesInUse } from "../domain/bundles/usage.ts";
import { fallbackTypes } from "../jobs/capacity/projects.ts";

const USAGE = `usage: bun run bundle [--promote]

Builds one bundle per CPU architecture a server may get (each Hetzner project's server types, fallbacks
included; SERVER_TYPE by default) from APP_REPO_URL at APP_REF, with Bun BUN_VERSION and
Claude Code CLAUDE_CODE_VERSION from NPM_REGISTRY_URL, into DATA_DIR/bundles/.

options:
  --promote     make the new bundles current (the ones new servers boot); without it only an architecture
                that has no current bundle yet gets one
  -h, --help    this text`;

const MB = 1_000_000;
/** A build takes minutes; staging this old belongs to one that was killed. */
const ABANDONED_STAGING_MS = 24 * 3_600_000;

process.exitCode = await main(process.argv.slice(2)).catch((err: unknown) => {
  if (!(err instanceof BundleError)) throw err;
  process.stderr.write(`bundle: ${err.code}: ${err.message}\n`);
  return 1;
});

async function main(argv: string[]): Promise<number> {
  let promote: boolean;
  try {
    const { values } = parseArgs({
      args: argv,
      strict: true,
      options: { promote: { type: "boolean", default: false }, help: { type: "boolean", short: "h" } },
    });
    if (values.help) {
      process.stdout.write(`${USAGE}\n`);
      return 0;
    }
    promote = values.promote;
  } catch (err) {
    if (!(err instanceof TypeError)) throw err;
    process.stderr.write(`bundle: ${err.message}; try --help\n`);
    return 2;
  }
  const config = loadConfigOrExit(process.env);
  const store = createBundleStore(bundleStoreDir(config.dataDir));
  const db = openDatabase(appDatabasePath(config.dataDir));
  migrateDatabase(db);
  try {
    const abandoned = await store.removeAbandonedStaging(Date.now() - ABANDONED_STAGING_MS);
    if (abandoned > 0)
      process.stdout.write(`removed ${abandoned} abandoned build(s) from ${store.dir}/.staging\n`);
    for (const architecture of architecturesFor(config.hcloudProjects.flatMap(fallbackTypes))) {
      const { manifest, reused } = await buildBundle({
        store,
        architecture,
        appRepoUrl: config.appRepoUrl,
        appRef: config.appRef,
        bunVersion: config.bunVersion,
        claudeCodeVersion: config.claudeCodeVersion,
        registryUrl: config.npmRegistryUrl,
      });
      const facts = `app ${manifest.appCommit.slice(0, 12)}, bun ${manifest.bunVersion}, claude ${manifest.claudeCodeVersion}`;
      const size = `${(manifest.sizeBytes / MB).toFixed(1)} MB`;
      const how = reused ? "unchanged (already built)" : `built in ${(manifest.buildMs / 1000).toFixed(1)} s`;
      process.stdout.write(`${architecture} ${manifest.id} ${size} ${how} (${facts})\n`);
      if (promote || (await store.current())[architecture] === undefined) {
        await store.promote(manifest.id);
        process.stdout.write(`${architecture} current: ${manifest.id}\n`);
      }
      const deleted = await store.prune(architecture, config.bundleKeep, bundlesInUse(db, Date.now()));
      for (const id of deleted) process.stdout.write(`${architecture} deleted old bundle ${id}\n`);
    }
  } finally {
    db.$client.close();
  }
  return 0;
}
