/** One backup: a snapshot of DATA_DIR, local retention, then the off-box copy when one is configured. */
import type { BackupConfig } from "../core/config.ts";
import type { Logger } from "../core/log.ts";
import { uploadSnapshot } from "./offsite.ts";
import { pruneSnapshots } from "./retention.ts";
import { type TakenSnapshot, takeSnapshot } from "./snapshot.ts";

export interface BackupOutcome extends TakenSnapshot {
  /** Local snapshots deleted by retention. */
  pruned: string[];
  /** Whether the snapshot was copied off the box. */
  uploaded: boolean;
  /** Time the off-box copy took, in ms (0 when there is none). */
  uploadMs: number;
}

export async function runBackup(opts: {
  dataDir: string;
  backup: BackupConfig;
  log: Logger;
  now?: () => number;
}): Promise<BackupOutcome> {
  const { backup, log } = opts;
  const now = opts.now ?? Date.now;
  const snapshot = takeSnapshot({ dataDir: opts.dataDir, backupDir: backup.dir, now });
  const bytes = Object.values(snapshot.manifest.files).reduce((sum, file) => sum + file.bytes, 0);
  log.info({ snapshot: snapshot.name, bytes, durationMs: snapshot.durationMs }, "snapshot taken");
  const pruned = pruneSnapshots(backup.dir, backup.keep);
  if (pruned.length > 0) log.info({ pruned, keep: backup.keep }, "old snapshots deleted");
  if (backup.s3 === null) {
    log.warn("no off-box target (BACKUP_S3_*): this snapshot lives only on this machine");
    return { ...snapshot, pruned, uploaded: false, uploadMs: 0 };
  }
  const uploadStarted = now();
  await uploadSnapshot(backup.s3, snapshot.name, snapshot.dir);
  const uploadMs = now() - uploadStarted;
  log.info(
    { snapshot: snapshot.name, bucket: backup.s3.bucket, prefix: backup.s3.prefix, durationMs: uploadMs },
    "snapshot copied off the box",
  );
  return { ...snapshot, pruned, uploaded: true, uploadMs };
}
