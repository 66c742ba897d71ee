/**
 * restoreSnapshot: puts a snapshot's databases into an empty DATA_DIR, brings the application database up to
 * this code's migrations and opens a restore hold in it (see `restores` in db/schema.ts), so the first sweeps
 * adopt what they find at Hetzner and delete nothing until an operator says so.
 */
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync } from "node:fs";
import { join } from "node:path";
import { queueDatabasePath } from "../broker/bunqueue-server.ts";
import { appDatabasePath, migrateDatabase, openDatabase } from "../db/index.ts";
import { restores } from "../db/schema.ts";
import {
  MANIFEST_FILE,
  type Manifest,
  parseManifest,
  SNAPSHOT_FILES,
  type SnapshotFile,
  sha256Hex,
} from "./manifest.ts";

/** A restore refused before anything was written; the message says why. */
export class RestoreError extends Error {
  override readonly name = "RestoreError";
}

export interface RestoredSnapshot {
  manifest: Manifest;
  /** Id of the restore hold opened in the application database. */
  restoreId: string;
}

function targetsOf(dataDir: string): Record<SnapshotFile, string> {
  return { "queue.sqlite": queueDatabasePath(dataDir), "app.sqlite": appDatabasePath(dataDir) };
}

/** Reads and checks the snapshot in `dir` against its manifest before anything is copied. */
export function verifySnapshot(dir: string): Manifest {
  const manifestPath = join(dir, MANIFEST_FILE);
  if (!existsSync(manifestPath))
    throw new RestoreError(`${dir} is not a snapshot: it has no ${MANIFEST_FILE}`);
  const manifest = parseManifest(readFileSync(manifestPath, "utf8"), dir);
  for (const file of SNAPSHOT_FILES) {
    const expected = manifest.files[file];
    const path = join(dir, file);
    if (!expected || !existsSync(path)) throw new RestoreError(`snapshot ${dir} lacks ${file}`);
    if (sha256Hex(readFileSync(path)) !== expected.sha256) {
      throw new RestoreError(`snapshot ${dir}: ${file} does not match its manifest (damaged copy?)`);
    }
  }
  return manifest;
}

/** Restores the snapshot in `snapshotDir` into `dataDir`, which must be missing or empty. */
export function restoreSnapshot(opts: {
  snapshotDir: string;
  dataDir: string;
  now?: () => number;
}): RestoredSnapshot {
  const now = opts.now ?? Date.now;
  const { dataDir } = opts;
  const present = existsSync(dataDir) ? readdirSync(dataDir).sort() : [];
  if (present.length > 0) {
    throw new RestoreError(
      `DATA_DIR ${dataDir} is not empty (${present.slice(0, 5).join(", ")}); restore only into an empty one`,
    );
  }
  const manifest = verifySnapshot(opts.snapshotDir);
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  for (const [file, target] of Object.entries(targetsOf(dataDir)) as [SnapshotFile, string][]) {
    copyFileSync(join(opts.snapshotDir, file), `${target}.restoring`);
    renameSync(`${target}.restoring`, target);
  }
  const db = openDatabase(appDatabasePath(dataDir));
  try {
    // The snapshot may predate this code's newest migration (a restore onto an upgraded install).
    migrateDatabase(db);
    const restoreId = crypto.randomUUID();
    db.insert(restores)
      .values({ id: restoreId, snapshotTakenAt: Date.parse(manifest.takenAt), restoredAt: now() })
      .run();
    return { manifest, restoreId };
  } finally {
    db.$client.close();
  }
}
