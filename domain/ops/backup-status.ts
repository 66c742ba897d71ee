/**
 * The backups as `ops status` shows them: the newest local snapshot, the off-box target, an open restore hold,
 * and a warning for each thing an operator must act on (no off-box copy above all: a lost disk takes the local
 * snapshots with it).
 */
import { listSnapshots } from "../../backup/retention.ts";
import type { BackupConfig } from "../../core/config.ts";
import type { Db } from "../../db/index.ts";
import { readOpenRestoreHold } from "../../jobs/reconcile/restore-hold.ts";

export interface BackupStatus {
  /** Name (its UTC time) of the newest local snapshot, or null when there is none. */
  newestLocalSnapshot: string | null;
  /** `bucket/prefix at endpoint`, or null while BACKUP_S3_* is unset. */
  offBoxTarget: string | null;
  /** The open restore hold, times ISO; null in normal operation. */
  restoreHold: { id: string; restoredAt: string; snapshotTakenAt: string } | null;
  warnings: string[];
}

export function backupStatus(db: Db, backup: BackupConfig): BackupStatus {
  const [newest] = listSnapshots(backup.dir);
  const hold = readOpenRestoreHold(db);
  const warnings: string[] = [];
  if (backup.s3 === null) {
    warnings.push(
      "no off-box backup target: set BACKUP_S3_* (a lost disk takes the local snapshots with it)",
    );
  }
  if (newest === undefined) warnings.push(`no snapshot in BACKUP_DIR ${backup.dir} yet (bun run backup)`);
  if (hold !== null) {
    warnings.push(
      `restore hold ${hold.id} is open: sweeps delete and create no server until bun run ops reconcile --apply`,
    );
  }
  return {
    newestLocalSnapshot: newest ?? null,
    offBoxTarget:
      backup.s3 === null ? null : `${backup.s3.bucket}/${backup.s3.prefix} at ${backup.s3.endpoint}`,
    restoreHold:
      hold === null
        ? null
        : {
            id: hold.id,
            restoredAt: new Date(hold.restoredAt).toISOString(),
            snapshotTakenAt: new Date(hold.snapshotTakenAt).toISOString(),
          },
    warnings,
  };
}
