import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isMigrated, migrateDatabase, openDatabase } from "../../db/index.ts";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "rachel-db-"));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe("database", () => {
  test("an empty database is migrated with every runtime table", () => {
    const db = openDatabase(join(dir, "app.db"));
    expect(isMigrated(db)).toBe(false);
    migrateDatabase(db);
    expect(isMigrated(db)).toBe(true);
    const tables = db.$client
      .query<{ name: string }, []>("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
      .all()
      .map((row) => row.name);
    expect(tables).toEqual(expect.arrayContaining(["instances", "operations", "signals", "step_runs"]));
    db.$client.close();
  });

  test("migrating twice and reopening keeps the database migrated", () => {
    const path = join(dir, "app.db");
    const first = openDatabase(path);
    migrateDatabase(first);
    migrateDatabase(first);
    first.$client.close();
    const second = openDatabase(path);
    expect(isMigrated(second)).toBe(true);
    second.$client.close();
  });

  test("the API and the worker starting at once on a new file both migrate it without error", async () => {
    const migrateInChild = (path: string) =>
      Bun.spawn([process.execPath, "-e", migrateScript(path)], { stdout: "pipe", stderr: "pipe" });
    for (let round = 0; round < 10; round++) {
      const path = join(dir, `race-${round}.db`);
      const children = [migrateInChild(path), migrateInChild(path)];
      const outcomes = await Promise.all(
        children.map(async (child) => ({
          code: await child.exited,
          stderr: await new Response(child.stderr).text(),
        })),
      );
      expect(outcomes).toEqual([
        { code: 0, stderr: "" },
        { code: 0, stderr: "" },
      ]);
    }
  });

  test("opens in WAL mode with foreign keys and a busy timeout", () => {
    const db = openDatabase(join(dir, "app.db"));
    const pragma = (name: string) => db.$client.query(`PRAGMA ${name}`).values()[0]?.[0];
    expect(pragma("journal_mode")).toBe("wal");
    expect(pragma("foreign_keys")).toBe(1);
    expect(Number(pragma("busy_timeout"))).toBeGreaterThan(0);
    db.$client.close();
  });
});

function migrateScript(path: string): string {
  const module = JSON.stringify(join(import.meta.dir, "../../db/index.ts"));
  return `const { migrateDatabase, openDatabase } = await import(${module}); migrateDatabase(openDatabase(${JSON.stringify(path)}));`;
}
