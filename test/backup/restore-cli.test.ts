/** `bun run ops restore` as an operator runs it on a new box: the newest snapshot, local or off-box, into an empty DATA_DIR. */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runBackup } from "../../backup/run-backup.ts";
import { generateDevSecrets } from "../../core/config.ts";
import { createLogger } from "../../core/log.ts";
import { appDatabasePath, migrateDatabase, openDatabase } from "../../db/index.ts";
import { runOps } from "../ops/run-ops.ts";
import { startS3Server, type TestS3Server } from "../support/s3-server.ts";

const root = mkdtempSync(join(tmpdir(), "restore-cli-"));
let s3: TestS3Server;
beforeAll(async () => {
  s3 = await startS3Server();
});
afterAll(async () => {
  await s3.close();
  rmSync(root, { recursive: true, force: true });
});

/** The service's configuration as the installer writes it, for another box's empty directories. */
function boxEnv(box: string, withS3: boolean): Record<string, string> {
  const { BROKER_TOKEN, SECRETS_KEY } = generateDevSecrets();
  return {
    DATA_DIR: join(root, box, "data"),
    BACKUP_DIR: join(root, box, "backups"),
    BROKER_TOKEN,
    SECRETS_KEY,
    HCLOUD_TOKEN: "hcloud-token",
    ...(withS3 ? s3.env : {}),
  };
}

async function backUpOldBox(): Promise<string> {
  const dataDir = join(root, "old", "data");
  mkdirSync(dataDir, { recursive: true });
  const app = openDatabase(appDatabasePath(dataDir));
  migrateDatabase(app);
  app.$client.close();
  openDatabase(join(dataDir, "queue.sqlite")).$client.close();
  const backup = { dir: join(root, "old", "backups"), keep: 3, s3: s3.config };
  return (await runBackup({ dataDir, backup, log: createLogger({ level: "silent" }) })).name;
}

test("on a new box the newest off-box snapshot is fetched and restored, and its time printed", async () => {
  const name = await backUpOldBox();
  const env = boxEnv("new", true);
  const run = await runOps(["restore"], env);
  expect(run.stderr).toBe("");
  expect(run.exitCode).toBe(0);
  const takenAt = `${name.slice(0, 4)}-${name.slice(4, 6)}-${name.slice(6, 8)}T${name.slice(9, 11)}:${name.slice(11, 13)}:${name.slice(13, 15)}.${name.slice(15, 18)}Z`;
  expect(run.stdout).toContain(`restored the snapshot taken at ${takenAt}`);
  expect(run.stdout).toContain("bun run ops reconcile --apply");
  expect(existsSync(join(env.DATA_DIR ?? "", "app.sqlite"))).toBe(true);
  expect(existsSync(join(env.BACKUP_DIR ?? "", name, "manifest.json"))).toBe(true);

  // Again onto the now populated DATA_DIR: refused, nothing touched.
  const again = await runOps(["restore", name], env);
  expect(again.exitCode).toBe(2);
  expect(again.stderr).toContain("is not empty (app.sqlite, queue.sqlite); restore only into an empty one");
});

test("without any snapshot, or any configuration, the restore says what is missing", async () => {
  const none = await runOps(["restore"], boxEnv("empty", false));
  expect(none.exitCode).toBe(2);
  expect(none.stderr).toContain("no snapshot in BACKUP_DIR");
  const unconfigured = await runOps(["restore"], {});
  expect(unconfigured.exitCode).toBe(2);
  expect(unconfigured.stderr).toContain("environment: BROKER_TOKEN: required");
});
