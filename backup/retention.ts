/** The local snapshots in BACKUP_DIR: listing them newest first, and keeping only the newest BACKUP_KEEP. */
import { existsSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { MANIFEST_FILE, SNAPSHOT_NAME } from "./manifest.ts";

/** Names of the finished snapshots (those with a manifest), newest first. */
export function listSnapshots(backupDir: string): string[] {
  if (!existsSync(backupDir)) return [];
  return readdirSync(backupDir)
    .filter((name) => SNAPSHOT_NAME.test(name) && existsSync(join(backupDir, name, MANIFEST_FILE)))
    .sort()
    .reverse();
}

/**
 * Deletes all but the newest `keep` snapshots, and the `.partial-` leftovers of snapshots that died half-way
 * (backups run one at a time, after the snapshot in hand is renamed). Returns the snapshot names deleted.
 */
export function pruneSnapshots(backupDir: string, keep: number): string[] {
  const doomed = listSnapshots(backupDir).slice(keep);
  const partials = existsSync(backupDir)
    ? readdirSync(backupDir).filter((n) => n.startsWith(".partial-"))
    : [];
  for (const name of [...doomed, ...partials])
    rmSync(join(backupDir, name), { recursive: true, force: true });
  return doomed;
}
