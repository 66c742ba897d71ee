/**
 * `bun run backup`: one backup of DATA_DIR (see backup/run-backup.ts), run hourly by rachel-backup.timer.
 * Exit code 0 when the snapshot was taken (and copied off the box, if configured), 1 otherwise.
 */
import { runBackup } from "../backup/run-backup.ts";
import { loadConfigOrExit } from "../core/config.ts";
import { exitWhenDrained } from "../core/exit.ts";
import { createLogger } from "../core/log.ts";
import { exitOnHelp } from "./usage.ts";

exitOnHelp(
  process.argv.slice(2),
  `usage: bun run backup
Takes one consistent snapshot of the application and queue databases in DATA_DIR into BACKUP_DIR, keeps
the newest BACKUP_KEEP, and copies it off the box when BACKUP_S3_* is set (docs/deploy.md). Exit 0 when
the snapshot was taken (and copied, if configured), 1 otherwise. rachel-backup.timer runs it hourly.
  -h, --help   this text`,
);

const config = loadConfigOrExit(process.env);
const log = createLogger({ level: config.logLevel, pretty: config.logPretty, name: "backup" });
try {
  await runBackup({ dataDir: config.dataDir, backup: config.backup, log });
  exitWhenDrained(0);
} catch (err) {
  log.error({ err }, "backup failed");
  exitWhenDrained(1);
}
