/**
 * `bun run ops restore [<snapshot>]`: runs on this machine, with the services stopped, into an empty DATA_DIR.
 * Without an argument it takes the newest snapshot there is, local (BACKUP_DIR) or off-box (BACKUP_S3_*);
 * a name picks that snapshot (local first, then off-box); a path picks that directory.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { downloadSnapshot, latestOffsiteSnapshot } from "../../backup/offsite.ts";
import { RestoreError, restoreSnapshot } from "../../backup/restore.ts";
import { listSnapshots } from "../../backup/retention.ts";
import type { BackupConfig } from "../../core/config.ts";
import { UsageError } from "./args.ts";

/** Where the snapshot to restore is, downloading it from the bucket when it is only there. */
async function locateSnapshot(backup: BackupConfig, wanted: string | undefined): Promise<string> {
  if (wanted?.includes("/")) return wanted;
  const local = listSnapshots(backup.dir);
  if (wanted !== undefined && local.includes(wanted)) return join(backup.dir, wanted);
  if (backup.s3 === null) {
    if (wanted !== undefined)
      throw new UsageError(`no snapshot ${wanted} in BACKUP_DIR ${backup.dir}, and no BACKUP_S3_* target`);
    const [newest] = local;
    if (newest === undefined)
      throw new UsageError(`no snapshot in BACKUP_DIR ${backup.dir}, and no BACKUP_S3_* target`);
    return join(backup.dir, newest);
  }
  const name = wanted ?? newer(local[0], await latestOffsiteSnapshot(backup.s3));
  if (name === undefined)
    throw new UsageError(`no snapshot in BACKUP_DIR ${backup.dir} nor in bucket ${backup.s3.bucket}`);
  if (local.includes(name)) return join(backup.dir, name);
  return downloadSnapshot(backup.s3, name, backup.dir);
}

/** Of two snapshot names, the newer (names sort by time). */
function newer(a: string | undefined, b: string | null): string | undefined {
  if (b === null) return a;
  return a === undefined || b > a ? b : a;
}

/** Restores and returns what to print: the snapshot's time first, then what happens next. */
export async function runRestore(
  opts: { dataDir: string; backup: BackupConfig; now?: () => number },
  wanted: string | undefined,
): Promise<{ lines: string[]; body: unknown }> {
  const now = opts.now ?? Date.now;
  const snapshotDir = await locateSnapshot(opts.backup, wanted);
  if (!existsSync(snapshotDir)) throw new UsageError(`snapshot ${snapshotDir} does not exist`);
  try {
    const { manifest, restoreId } = restoreSnapshot({ snapshotDir, dataDir: opts.dataDir, now });
    const ageMinutes = Math.round((now() - Date.parse(manifest.takenAt)) / 60_000);
    return {
      body: { snapshot: snapshotDir, takenAt: manifest.takenAt, dataDir: opts.dataDir, restoreId },
      lines: [
        `restored the snapshot taken at ${manifest.takenAt} (${ageMinutes} min ago) into ${opts.dataDir}`,
        `restore hold ${restoreId} is open: sweeps adopt servers labelled for known instances, resume unfinished`,
        "jobs, and delete or create no server until: bun run ops reconcile --apply",
        "start the services now; the payment providers' redeliveries fill in what came after the snapshot",
      ],
    };
  } catch (err) {
    if (err instanceof RestoreError) throw new UsageError(err.message);
    throw err;
  }
}
