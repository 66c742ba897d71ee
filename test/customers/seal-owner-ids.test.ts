import { afterEach, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { migrate } from "drizzle-orm/bun-sqlite/migrator";
import { createSealer } from "../../core/secrets.ts";
import { type Db, migrateDatabase, openDatabase } from "../../db/index.ts";
import { createCustomerStore, sealClearOwnerIds } from "../../domain/customers.ts";
import { customerSecrets } from "../../harness/customers/fixtures.ts";

/** The last migration before the owner id was sealed: a database this old holds it in clear. */
const LAST_CLEAR_MIGRATION = "0003_add_step_runs_finished_index";
/** Six bytes as a SQLite integer (serial type 5), so the file can be searched for them. */
const OWNER_ID = 7_123_456_789;
const OWNER_ID_BYTES = Buffer.from("01a8975315", "hex");

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A database migrated only as far as the previous schema, as a deployed service left it. */
function previousSchemaDatabase(): { db: Db; dir: string } {
  const dir = mkdtempSync(join(tmpdir(), "seal-owner-"));
  dirs.push(dir);
  const migrations = join(dir, "migrations");
  cpSync(new URL("../../migrations", import.meta.url).pathname, migrations, { recursive: true });
  const journalPath = join(migrations, "meta", "_journal.json");
  const journal = JSON.parse(readFileSync(journalPath, "utf8")) as { entries: { tag: string }[] };
  const last = journal.entries.findIndex((entry) => entry.tag === LAST_CLEAR_MIGRATION);
  writeFileSync(journalPath, JSON.stringify({ ...journal, entries: journal.entries.slice(0, last + 1) }));
  const db = openDatabase(join(dir, "app.sqlite"));
  migrate(db, { migrationsFolder: migrations });
  return { db, dir };
}

test("owner ids written in clear by the previous schema are sealed at start, once, and shredded rows lose theirs", () => {
  const { db, dir } = previousSchemaDatabase();
  const keys = { currentId: "k1", keys: new Map([["k1", randomBytes(32)]]) };
  const sealer = createSealer(keys);
  // Rows as the previous code wrote them: the other secrets sealed, the owner id in clear.
  const live = customerSecrets("live");
  const insert = db.$client.prepare(
    `INSERT INTO customers (id, telegram_bot_token, owner_telegram_user_id, claude_credentials, created_at, updated_at, shredded_at)
     VALUES (?, ?, ?, ?, 1, 1, ?)`,
  );
  insert.run(
    "live",
    sealer.seal(live.telegramBotToken, "customer:live:telegramBotToken"),
    OWNER_ID,
    sealer.seal(JSON.stringify(live.claude), "customer:live:claudeCredentials"),
    null,
  );
  insert.run("gone", null, OWNER_ID + 1, null, 5);
  db.$client.run("PRAGMA wal_checkpoint(TRUNCATE)");
  expect(readFileSync(join(dir, "app.sqlite")).includes(OWNER_ID_BYTES)).toBe(true);

  migrateDatabase(db);
  expect(sealClearOwnerIds(db, sealer)).toBe(2);
  expect(sealClearOwnerIds(db, sealer)).toBe(0);

  const store = createCustomerStore({ db, sealer });
  expect(store.open("live")).toEqual({ ...live, ownerTelegramUserId: OWNER_ID });
  const rows = db.$client
    .query(
      "SELECT id, owner_telegram_user_id AS clear, owner_telegram_user_id_sealed AS sealed FROM customers ORDER BY id",
    )
    .all();
  expect(rows).toEqual([
    { id: "gone", clear: null, sealed: null },
    { id: "live", clear: null, sealed: expect.stringMatching(/^v1:k1:/) },
  ]);
  // Sealed for this customer and field only: under another context it does not open.
  const sealed = (rows[1] as { sealed: string }).sealed;
  expect(() => sealer.open(sealed, "customer:gone:ownerTelegramUserId")).toThrow();
  const file = readFileSync(join(dir, "app.sqlite"));
  expect(file.includes(OWNER_ID_BYTES)).toBe(false);
  db.$client.close();
});

test("an owner id registered after the upgrade never touches the clear column", () => {
  const { db } = previousSchemaDatabase();
  migrateDatabase(db);
  const sealer = createSealer({ currentId: "k1", keys: new Map([["k1", randomBytes(32)]]) });
  createCustomerStore({ db, sealer }).upsert("c1", {
    ...customerSecrets("c1"),
    ownerTelegramUserId: OWNER_ID,
  });
  expect(sealClearOwnerIds(db, sealer)).toBe(0);
  expect(db.$client.query("SELECT owner_telegram_user_id AS clear FROM customers").get()).toEqual({
    clear: null,
  });
  db.$client.close();
});
