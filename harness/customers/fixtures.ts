/** A freshly migrated database in a temp dir, a sealer, and customer secrets that pass Rachel8's rules. */
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createSealer, type Sealer } from "../../core/secrets.ts";
import { type Db, migrateDatabase, openDatabase } from "../../db/index.ts";
import type { CustomerSecrets } from "../../domain/customers.ts";

export interface TestDatabase {
  db: Db;
  sealer: Sealer;
  dir: string;
  close(): void;
}

export function openTestDatabase(): TestDatabase {
  const dir = mkdtempSync(join(tmpdir(), "rachel-customers-"));
  const db = openDatabase(join(dir, "app.sqlite"));
  migrateDatabase(db);
  const sealer = createSealer({ currentId: "k1", keys: new Map([["k1", randomBytes(32)]]) });
  return {
    db,
    sealer,
    dir,
    close() {
      db.$client.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Secrets each carrying `marker`, so a test can search raw bytes for them. */
export function customerSecrets(marker: string): CustomerSecrets {
  return {
    telegramBotToken: `123456789:${marker}-telegram-${"x".repeat(35)}`,
    ownerTelegramUserId: 424242,
    claude: {
      accessToken: `sk-ant-oat01-${marker}-access`,
      refreshToken: `sk-ant-ort01-${marker}-refresh`,
      expiresAt: 1_900_000_000_000,
      scopes: ["user:inference", "user:profile"],
    },
  };
}
