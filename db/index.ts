import { Database, SQLiteError } from "bun:sqlite";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type BunSQLiteDatabase, drizzle } from "drizzle-orm/bun-sqlite";
import { migrate } from "drizzle-orm/bun-sqlite/migrator";
import { readMigrationFiles } from "drizzle-orm/migrator";
import type { BaseSQLiteDatabase } from "drizzle-orm/sqlite-core";
import { PreparedStatements } from "./prepared.ts";
import * as schema from "./schema.ts";

/** The database handle; `$prepared` holds the statements prepared on it (db/prepared.ts). */
export type Db = BunSQLiteDatabase<typeof schema> & { $client: Database; $prepared: PreparedStatements };
/** What both the database and a transaction on it offer: functions that write take this. */
export type DbSession = BaseSQLiteDatabase<"sync", void, typeof schema>;

const migrationsFolder = fileURLToPath(new URL("../migrations", import.meta.url));
/** How long a writer waits for the other process's write lock before SQLITE_BUSY, in ms. */
const busyTimeoutMs = 5000;

/** The one place that names the application database file inside DATA_DIR. */
export function appDatabasePath(dataDir: string): string {
  return join(dataDir, "app.sqlite");
}

/** Opens (creating if needed) the shared database file; WAL so the API and worker read while one writes. */
export function openDatabase(path: string): Db {
  const client = new Database(path, { create: true, strict: true });
  client.run(`PRAGMA busy_timeout = ${busyTimeoutMs}`);
  useWriteAheadLog(client);
  client.run("PRAGMA foreign_keys = ON");
  // WAL with synchronous=NORMAL is durable across process crashes, which is the failure we design for.
  client.run("PRAGMA synchronous = NORMAL");
  return Object.assign(drizzle({ client, schema }), { $prepared: new PreparedStatements() });
}

/**
 * Switches a file to WAL. SQLite answers SQLITE_BUSY at once, without its busy handler, when another process is
 * switching the same new file at that moment (about 1 start in 25 with the API and worker started together),
 * so the switch is retried here until the busy timeout.
 */
function useWriteAheadLog(client: Database): void {
  const deadline = Date.now() + busyTimeoutMs;
  for (;;) {
    try {
      client.run("PRAGMA journal_mode = WAL");
      return;
    } catch (err) {
      if (!(err instanceof SQLiteError && err.code === "SQLITE_BUSY") || Date.now() >= deadline) throw err;
      Bun.sleepSync(5 + Math.random() * 20);
    }
  }
}

/** Applies every migration in migrations/ not yet applied (drizzle's journal); safe to call from both processes. */
export function migrateDatabase(db: Db): void {
  try {
    migrate(db, { migrationsFolder });
  } catch (err) {
    // drizzle reads the applied list before taking the write lock, so of two processes starting at once the
    // second may replay a migration the first just committed and fail; the database is migrated all the same.
    if (!isMigrated(db)) throw err;
  }
}

/** True when the newest shipped migration has been applied (the API's /readyz uses it). */
export function isMigrated(db: Db): boolean {
  const shipped = readMigrationFiles({ migrationsFolder });
  const newest = shipped.at(-1);
  if (!newest) return true;
  const table = db.$client
    .query("SELECT name FROM sqlite_master WHERE type = 'table' AND name = '__drizzle_migrations'")
    .get();
  if (!table) return false;
  const applied = db.$client
    .query<{ created_at: number }, []>("SELECT MAX(created_at) AS created_at FROM __drizzle_migrations")
    .get();
  return applied !== null && applied.created_at >= newest.folderMillis;
}
