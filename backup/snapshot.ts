/**
 * takeSnapshot: consistent online copies of the queue and application databases while the broker, API and
 * worker keep writing. `VACUUM INTO` reads one transaction of a WAL database, so each copy is a committed
 * state, never a torn one. The queue is copied before the application database: the application database is
 * the source of truth, so an operation it records without a queue job is re-created after a restore, whereas
 * a queue job for an operation it lacks would have nothing to run.
 */
import { Database } from "bun:sqlite";
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { queueDatabasePath } from "../broker/bunqueue-server.ts";
import { appDatabasePath } from "../db/index.ts";
import { MANIFEST_FILE, type Manifest, type SnapshotFile, sha256Hex, snapshotName } from "./manifest.ts";

export interface TakenSnapshot {
  name: string;
  /** Directory holding the snapshot's files. */
  dir: string;
  manifest: Manifest;
  /** How long taking it took, in ms. */
  durationMs: number;
}

/** Where each snapshot file is copied from. */
function sourcesOf(dataDir: string): Record<SnapshotFile, string> {
  return { "queue.sqlite": queueDatabasePath(dataDir), "app.sqlite": appDatabasePath(dataDir) };
}

/** Copies one live database into `target` and checks the copy opens clean. */
function copyDatabase(source: string, target: string): void {
  // Not readonly: a reader of a WAL database may need to create its -shm file.
  const db = new Database(source, { create: false });
  try {
    db.run("PRAGMA busy_timeout = 5000");
    db.run("VACUUM INTO ?", [target]);
  } finally {
    db.close();
  }
  const copy = new Database(target, { readonly: true });
  try {
    const check = copy.query<{ quick_check: string }, []>("PRAGMA quick_check").get();
    if (check?.quick_check !== "ok")
      throw new Error(`snapshot of ${source} failed its check: ${check?.quick_check}`);
  } finally {
    copy.close();
  }
}

/**
 * Takes one snapshot of DATA_DIR's databases into `backupDir/<name>`; the directory appears whole (renamed
 * from a `.partial-` one) or not at all. `now` is the clock, epoch ms.
 */
export function takeSnapshot(opts: {
  dataDir: string;
  backupDir: string;
  now?: () => number;
}): TakenSnapshot {
  const now = opts.now ?? Date.now;
  const started = now();
  const name = snapshotName(started);
  const partial = join(opts.backupDir, `.partial-${name}`);
  mkdirSync(partial, { recursive: true, mode: 0o700 });
  try {
    const sources = sourcesOf(opts.dataDir);
    const copy = (file: SnapshotFile) => {
      const target = join(partial, file);
      copyDatabase(sources[file], target);
      const bytes = readFileSync(target);
      return { bytes: bytes.length, sha256: sha256Hex(bytes) };
    };
    // Object literal order is evaluation order: the queue is copied first.
    const files = { "queue.sqlite": copy("queue.sqlite"), "app.sqlite": copy("app.sqlite") };
    const manifest: Manifest = { format: 1, takenAt: new Date(started).toISOString(), files };
    writeFileSync(join(partial, MANIFEST_FILE), `${JSON.stringify(manifest, null, 2)}\n`, { mode: 0o600 });
    const dir = join(opts.backupDir, name);
    renameSync(partial, dir);
    return { name, dir, manifest, durationMs: now() - started };
  } catch (err) {
    rmSync(partial, { recursive: true, force: true });
    throw err;
  }
}
