import { Database } from "bun:sqlite";
import { afterAll, beforeAll, expect, test } from "bun:test";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { downloadSnapshot, latestOffsiteSnapshot } from "../../backup/offsite.ts";
import { RestoreError, restoreSnapshot } from "../../backup/restore.ts";
import { listSnapshots, pruneSnapshots } from "../../backup/retention.ts";
import { runBackup } from "../../backup/run-backup.ts";
import { takeSnapshot } from "../../backup/snapshot.ts";
import { queueDatabasePath } from "../../broker/bunqueue-server.ts";
import { createLogger } from "../../core/log.ts";
import { appDatabasePath, isMigrated, migrateDatabase, openDatabase } from "../../db/index.ts";
import { startS3Server, type TestS3Server } from "../support/s3-server.ts";

const root = mkdtempSync(join(tmpdir(), "backup-test-"));
const log = createLogger({ level: "silent" });
let s3: TestS3Server;
beforeAll(async () => {
  s3 = await startS3Server();
});
afterAll(async () => {
  await s3.close();
  rmSync(root, { recursive: true, force: true });
});

/** A DATA_DIR with a migrated application database and a WAL queue database, each with a `pairs` table. */
function seedDataDir(name: string): string {
  const dataDir = join(root, name);
  mkdirSync(dataDir, { recursive: true });
  const app = openDatabase(appDatabasePath(dataDir));
  migrateDatabase(app);
  app.$client.close();
  for (const path of [appDatabasePath(dataDir), queueDatabasePath(dataDir)]) {
    const db = new Database(path, { create: true });
    db.run("PRAGMA journal_mode = WAL");
    db.run("CREATE TABLE pairs (side TEXT NOT NULL, n INTEGER NOT NULL)");
    db.close();
  }
  return dataDir;
}

/** Another process writing both sides of a pair in one transaction, as fast as it can, into both databases. */
function startPairWriter(dataDir: string): { stop(): Promise<void> } {
  const script = `
    import { Database } from "bun:sqlite";
    const dbs = ${JSON.stringify([appDatabasePath(dataDir), queueDatabasePath(dataDir)])}.map((p) => {
      const db = new Database(p); db.run("PRAGMA busy_timeout = 5000"); return db;
    });
    for (let n = 0; ; n++) for (const db of dbs) db.transaction(() => {
      db.run("INSERT INTO pairs VALUES ('a', ?)", [n]); db.run("INSERT INTO pairs VALUES ('b', ?)", [n]);
    })();`;
  const child = Bun.spawn([process.execPath, "-e", script], { stdout: "ignore", stderr: "inherit" });
  return {
    async stop() {
      child.kill("SIGKILL");
      await child.exited;
    },
  };
}

function pairCounts(path: string): { a: number; b: number } {
  const db = new Database(path, { readonly: true });
  const rows = db
    .query<{ side: string; count: number }, []>("SELECT side, COUNT(*) AS count FROM pairs GROUP BY side")
    .all();
  db.close();
  const count = (side: string) => rows.find((row) => row.side === side)?.count ?? 0;
  return { a: count("a"), b: count("b") };
}

test("a snapshot taken while another process writes holds only whole transactions, checksummed", async () => {
  const dataDir = seedDataDir("live");
  const backupDir = join(root, "live-backups");
  const writer = startPairWriter(dataDir);
  try {
    // Let the writer get going, so the snapshots land in the middle of its transactions.
    while (pairCounts(queueDatabasePath(dataDir)).a < 200) await Bun.sleep(5);
    for (let i = 0; i < 3; i++) {
      const { name, dir, manifest } = takeSnapshot({ dataDir, backupDir });
      expect(name).toMatch(/^\d{8}T\d{9}Z$/);
      for (const file of ["queue.sqlite", "app.sqlite"] as const) {
        const { a, b } = pairCounts(join(dir, file));
        expect(a).toBeGreaterThan(0);
        expect(b).toBe(a);
        const bytes = readFileSync(join(dir, file));
        expect(manifest.files[file]).toEqual({
          bytes: bytes.length,
          sha256: new Bun.CryptoHasher("sha256").update(bytes).digest("hex"),
        });
      }
      // The queue is copied first, so the application database is never older than it.
      expect(pairCounts(join(dir, "app.sqlite")).a).toBeGreaterThanOrEqual(
        pairCounts(join(dir, "queue.sqlite")).a,
      );
    }
  } finally {
    await writer.stop();
  }
  expect(readdirSync(backupDir).filter((n) => n.startsWith(".partial-"))).toEqual([]);
});

test("retention keeps the newest snapshots and clears half-written ones", () => {
  const dataDir = seedDataDir("retention");
  const backupDir = join(root, "retention-backups");
  const snapshotAt = (hour: number) =>
    takeSnapshot({ dataDir, backupDir, now: () => Date.UTC(2026, 11, 7, hour) }).name;
  const [oldest, older, newer, newest] = [snapshotAt(1), snapshotAt(2), snapshotAt(3), snapshotAt(4)];
  mkdirSync(join(backupDir, ".partial-20261207T050000000Z"));
  expect(pruneSnapshots(backupDir, 2)).toEqual([older, oldest]);
  expect(listSnapshots(backupDir)).toEqual([newest, newer]);
  expect(readdirSync(backupDir).sort()).toEqual([newer, newest]);
});

test("a backup is copied off the box and comes back identical", async () => {
  const dataDir = seedDataDir("offsite");
  const backupDir = join(root, "offsite-backups");
  const outcome = await runBackup({ dataDir, backup: { dir: backupDir, keep: 5, s3: s3.config }, log });
  expect(outcome.uploaded).toBe(true);
  expect(await latestOffsiteSnapshot(s3.config)).toBe(outcome.name);

  const elsewhere = join(root, "other-box-backups");
  const dir = await downloadSnapshot(s3.config, outcome.name, elsewhere);
  for (const file of ["queue.sqlite", "app.sqlite", "manifest.json"]) {
    expect(readFileSync(join(dir, file)).equals(readFileSync(join(outcome.dir, file)))).toBe(true);
  }
  await expect(downloadSnapshot(s3.config, "20200101T000000000Z", elsewhere)).rejects.toThrow(
    "snapshot 20200101T000000000Z is not in bucket rachel-backups",
  );
});

test("without an off-box target the backup stays local", async () => {
  const dataDir = seedDataDir("local-only");
  const outcome = await runBackup({
    dataDir,
    backup: { dir: join(root, "local-only-backups"), keep: 5, s3: null },
    log,
  });
  expect(outcome.uploaded).toBe(false);
  expect(existsSync(join(outcome.dir, "manifest.json"))).toBe(true);
});

test("a restore needs an empty DATA_DIR and an intact snapshot, and opens a restore hold", () => {
  const dataDir = seedDataDir("restore-source");
  const snapshot = takeSnapshot({
    dataDir,
    backupDir: join(root, "restore-backups"),
    now: () => Date.UTC(2026, 11, 7, 9),
  });

  const occupied = join(root, "occupied");
  mkdirSync(occupied);
  writeFileSync(join(occupied, "app.sqlite"), "");
  expect(() => restoreSnapshot({ snapshotDir: snapshot.dir, dataDir: occupied })).toThrow(
    new RestoreError(`DATA_DIR ${occupied} is not empty (app.sqlite); restore only into an empty one`),
  );

  const damaged = join(root, "damaged");
  mkdirSync(damaged);
  for (const file of readdirSync(snapshot.dir))
    writeFileSync(join(damaged, file), readFileSync(join(snapshot.dir, file)));
  const bytes = readFileSync(join(damaged, "app.sqlite"));
  bytes.writeUInt8(bytes.readUInt8(bytes.length - 1) ^ 0xff, bytes.length - 1);
  writeFileSync(join(damaged, "app.sqlite"), bytes);
  const fresh = join(root, "fresh");
  expect(() => restoreSnapshot({ snapshotDir: damaged, dataDir: fresh })).toThrow(
    "app.sqlite does not match its manifest",
  );
  expect(existsSync(fresh)).toBe(false);

  const restored = restoreSnapshot({
    snapshotDir: snapshot.dir,
    dataDir: fresh,
    now: () => Date.UTC(2026, 11, 8),
  });
  expect(restored.manifest.takenAt).toBe("2026-12-07T09:00:00.000Z");
  const app = openDatabase(appDatabasePath(fresh));
  expect(isMigrated(app)).toBe(true);
  expect(app.$client.query("SELECT * FROM restores").all()).toEqual([
    {
      id: restored.restoreId,
      snapshot_taken_at: Date.UTC(2026, 11, 7, 9),
      restored_at: Date.UTC(2026, 11, 8),
      released_at: null,
      released_by_sweep: null,
    },
  ]);
  app.$client.close();
  expect(pairCounts(queueDatabasePath(fresh))).toEqual({ a: 0, b: 0 });
});
