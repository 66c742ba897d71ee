/**
 * Customers and their secrets (Telegram bot token, owner id, Claude OAuth credentials), sealed at rest per
 * row and field so a sealed value copied to another customer or column fails to open. Deprovisioning
 * crypto-shreds them: the sealed columns are nulled and the freed bytes scrubbed from the database files,
 * so nothing of the customer's remains decryptable.
 */
import { and, eq, isNotNull } from "drizzle-orm";
import { z } from "zod";
import type { Sealer } from "../core/secrets.ts";
import type { Db } from "../db/index.ts";
import { customers } from "../db/schema.ts";
import { JobError, PermanentError } from "../jobs/errors.ts";
import { CLAUDE_AI_PROVIDER, Rachel8ConfigError, renderCredentials, renderEnv } from "./rachel8.ts";

export interface CustomerSecrets {
  /** Rachel8's TELEGRAM_BOT_TOKEN, `<digits>:<35+ chars>`. */
  telegramBotToken: string;
  /** Rachel8's OWNER_TELEGRAM_USER_ID, a positive integer. */
  ownerTelegramUserId: number;
  /** Claude Code's subscription OAuth credentials; `expiresAt` in ms since the epoch. */
  claude: { accessToken: string; refreshToken: string; expiresAt: number; scopes: string[] };
}

/** Which Claude credentials are stored, and whether a machine may have refreshed them since. */
export interface ClaudeCredentialsState {
  /** customers.claude_credentials_version: + 1 on every change of the stored credentials. */
  version: number;
  /** The server the stored version was delivered to (it may have rotated them), or null. */
  deliveredToServerId: number | null;
}

export interface CustomerStore {
  /**
   * Creates or replaces the customer's secrets (also after a shred) and returns the time stored, epoch ms;
   * throws InvalidCustomerSecretsError naming bad fields.
   */
  upsert(customerId: string, secrets: CustomerSecrets): number;
  /** The customer's secrets; throws UnknownCustomerError or CustomerSecretsGoneError (both permanent). */
  open(customerId: string): CustomerSecrets;
  /**
   * Crypto-shred: nulls the sealed columns, sets shreddedAt, then checkpoints the WAL so the old ciphertext
   * is gone from the files too (it also scrubs anything else this connection nulled before). Idempotent; an
   * unknown customer has nothing to shred. Throws ShredIncompleteError (transient) while readers block that.
   */
  shred(customerId: string): void;
  /** Version and holder of the stored Claude credentials; throws UnknownCustomerError. */
  claudeState(customerId: string): ClaudeCredentialsState;
  /**
   * Records that `serverId` now holds stored version `version`; false (nothing written) when the customer
   * has sent newer credentials meanwhile.
   */
  recordClaudeDelivery(customerId: string, version: number, serverId: number): boolean;
  /**
   * Takes back the credentials a machine holds before it goes away: stored (sealed) as a new version when
   * they differ, and in either case no machine holds the stored ones any more. Skipped (false) when the
   * stored version is no longer `version` (the customer sent newer ones) or the secrets were shredded.
   */
  takeBackClaude(customerId: string, version: number, claude: CustomerSecrets["claude"]): boolean;
}

export interface CustomerStoreDeps {
  db: Db;
  sealer: Sealer;
  /** Clock, in epoch ms; default Date.now. */
  now?: () => number;
}

/** Customer ids go into sealing contexts (`customer:<id>:<field>`), so no ":" and nothing unbounded. */
const CUSTOMER_ID = /^[A-Za-z0-9_-]{1,64}$/;

/** The customer's secrets fail Rachel8's rules (or the id is malformed); `fields` names them, never their values. */
export class InvalidCustomerSecretsError extends PermanentError {
  constructor(readonly fields: readonly string[]) {
    super(`invalid customer secrets: ${fields.join(", ")}`, { code: "invalid_customer_secrets" });
  }
}

export class UnknownCustomerError extends PermanentError {
  constructor(customerId: string) {
    super(`unknown customer ${customerId}`, { code: "unknown_customer" });
  }
}

/** The customer's secrets were crypto-shredded (deprovisioned); nothing can bring them back. */
export class CustomerSecretsGoneError extends PermanentError {
  constructor(customerId: string) {
    super(`secrets of customer ${customerId} were shredded`, { code: "customer_secrets_gone" });
  }
}

/** The columns are nulled, but a reader kept the checkpoint from scrubbing the old values from the files. */
export class ShredIncompleteError extends JobError {
  constructor(customerId: string) {
    super(
      "shred_incomplete",
      `secrets of customer ${customerId} are nulled but not yet scrubbed from the database files`,
    );
  }
}

/** Only the customer's own values are under test; the rest of the .env is fixed by the provisioner. */
const ENV_FIELDS_OWNED_BY_PROVISIONER = {
  sharedFolderPath: "/home/rachel/shared",
  nodeEnv: "production",
  logLevel: "info",
  aiProvider: CLAUDE_AI_PROVIDER,
} as const;

const ENV_FIELD_NAMES: ReadonlyMap<string, string> = new Map([
  ["TELEGRAM_BOT_TOKEN", "telegramBotToken"],
  ["OWNER_TELEGRAM_USER_ID", "ownerTelegramUserId"],
]);

const claudeSchema = z.object({
  accessToken: z.string(),
  refreshToken: z.string(),
  expiresAt: z.number(),
  scopes: z.array(z.string()),
});

/** Checks the secrets with Rachel8's own rules (domain/rachel8.ts), collecting every bad field. */
function validateSecrets(customerId: string, secrets: CustomerSecrets): void {
  const fields: string[] = [];
  if (!CUSTOMER_ID.test(customerId)) fields.push("customerId");
  const collect = (render: () => unknown, rename: (field: string) => string) => {
    try {
      render();
    } catch (err) {
      if (!(err instanceof Rachel8ConfigError)) throw err;
      fields.push(...err.fields.map(rename));
    }
  };
  collect(
    () => renderEnv({ ...ENV_FIELDS_OWNED_BY_PROVISIONER, ...secrets }),
    (field) => ENV_FIELD_NAMES.get(field) ?? field,
  );
  // The owner id is stored in an integer column: a string would pass Rachel8's rule but not the type.
  if (typeof secrets.ownerTelegramUserId !== "number" && !fields.includes("ownerTelegramUserId")) {
    fields.push("ownerTelegramUserId");
  }
  collect(
    () => renderCredentials(secrets.claude),
    (field) => field.replace(/^claudeAiOauth\./, "claude."),
  );
  if (fields.length > 0) throw new InvalidCustomerSecretsError(fields);
}

type SealedField = "telegramBotToken" | "ownerTelegramUserId" | "claudeCredentials";

const context = (customerId: string, field: SealedField) => `customer:${customerId}:${field}`;

export function createCustomerStore(deps: CustomerStoreDeps): CustomerStore {
  const { db, sealer } = deps;
  const now = deps.now ?? Date.now;
  // Without it SQLite leaves a nulled value's old bytes in the page's free space, still decryptable.
  db.$client.run("PRAGMA secure_delete = ON");
  const storedClaudeJson = (row: typeof customers.$inferSelect): string | null =>
    row.claudeCredentials === null
      ? null
      : sealer.open(row.claudeCredentials, context(row.id, "claudeCredentials"));

  return {
    upsert(customerId, secrets) {
      validateSecrets(customerId, secrets);
      const claudeJson = claudeCredentialsJson(secrets.claude);
      // Read then write: take the write lock first, or a concurrent writer fails it with SQLITE_BUSY_SNAPSHOT.
      return db.transaction(
        (tx) => {
          const stored = tx.select().from(customers).where(eq(customers.id, customerId)).get();
          const same = stored !== undefined && storedClaudeJson(stored) === claudeJson;
          const sealed = {
            telegramBotToken: sealer.seal(secrets.telegramBotToken, context(customerId, "telegramBotToken")),
            ownerTelegramUserId: sealer.seal(
              String(secrets.ownerTelegramUserId),
              context(customerId, "ownerTelegramUserId"),
            ),
            clearOwnerTelegramUserId: null,
            claudeCredentials: sealer.seal(claudeJson, context(customerId, "claudeCredentials")),
            // New credentials belong to no machine yet; the same ones keep their version and holder.
            claudeCredentialsVersion: (stored?.claudeCredentialsVersion ?? 0) + (same ? 0 : 1),
            claudeCredentialsServerId: same ? (stored?.claudeCredentialsServerId ?? null) : null,
            updatedAt: now(),
            shreddedAt: null,
          };
          tx.insert(customers)
            .values({ id: customerId, createdAt: sealed.updatedAt, ...sealed })
            .onConflictDoUpdate({ target: customers.id, set: sealed })
            .run();
          return sealed.updatedAt;
        },
        { behavior: "immediate" },
      );
    },

    open(customerId) {
      const row = db.select().from(customers).where(eq(customers.id, customerId)).get();
      if (!row) throw new UnknownCustomerError(customerId);
      if (
        row.shreddedAt !== null ||
        row.telegramBotToken === null ||
        row.claudeCredentials === null ||
        row.ownerTelegramUserId === null
      ) {
        throw new CustomerSecretsGoneError(customerId);
      }
      const claudeJson = sealer.open(row.claudeCredentials, context(customerId, "claudeCredentials"));
      return {
        telegramBotToken: sealer.open(row.telegramBotToken, context(customerId, "telegramBotToken")),
        ownerTelegramUserId: Number(
          sealer.open(row.ownerTelegramUserId, context(customerId, "ownerTelegramUserId")),
        ),
        claude: claudeSchema.parse(JSON.parse(claudeJson)),
      };
    },

    claudeState(customerId) {
      const row = db
        .select({
          version: customers.claudeCredentialsVersion,
          deliveredToServerId: customers.claudeCredentialsServerId,
        })
        .from(customers)
        .where(eq(customers.id, customerId))
        .get();
      if (!row) throw new UnknownCustomerError(customerId);
      return row;
    },

    recordClaudeDelivery(customerId, version, serverId) {
      const updated = db
        .update(customers)
        .set({ claudeCredentialsServerId: serverId })
        .where(and(eq(customers.id, customerId), eq(customers.claudeCredentialsVersion, version)))
        .returning({ id: customers.id })
        .all();
      return updated.length > 0;
    },

    takeBackClaude(customerId, version, claude) {
      validateClaude(claude);
      const claudeJson = claudeCredentialsJson(claude);
      return db.transaction((tx) => {
        const stored = tx.select().from(customers).where(eq(customers.id, customerId)).get();
        if (!stored || stored.claudeCredentialsVersion !== version || stored.shreddedAt !== null)
          return false;
        const same = storedClaudeJson(stored) === claudeJson;
        tx.update(customers)
          .set({
            claudeCredentials: same
              ? stored.claudeCredentials
              : sealer.seal(claudeJson, context(customerId, "claudeCredentials")),
            claudeCredentialsVersion: version + (same ? 0 : 1),
            claudeCredentialsServerId: null,
            updatedAt: same ? stored.updatedAt : now(),
          })
          .where(eq(customers.id, customerId))
          .run();
        return true;
      });
    },

    shred(customerId) {
      const row = db
        .select({ shreddedAt: customers.shreddedAt })
        .from(customers)
        .where(eq(customers.id, customerId))
        .get();
      if (!row) return;
      const at = now();
      db.update(customers)
        .set({
          telegramBotToken: null,
          ownerTelegramUserId: null,
          clearOwnerTelegramUserId: null,
          claudeCredentials: null,
          shreddedAt: row.shreddedAt ?? at,
          updatedAt: at,
        })
        .where(eq(customers.id, customerId))
        .run();
      scrubFreedPages(db, customerId);
    },
  };
}

/** The sealed form's plaintext: fixed key order, so equal credentials give equal text. */
function claudeCredentialsJson(claude: CustomerSecrets["claude"]): string {
  const { accessToken, refreshToken, expiresAt, scopes } = claude;
  return JSON.stringify({ accessToken, refreshToken, expiresAt, scopes });
}

/** Throws InvalidCustomerSecretsError naming the bad fields of credentials read back from a machine. */
function validateClaude(claude: CustomerSecrets["claude"]): void {
  try {
    renderCredentials(claude);
  } catch (err) {
    if (!(err instanceof Rachel8ConfigError)) throw err;
    throw new InvalidCustomerSecretsError(
      err.fields.map((field) => field.replace(/^claudeAiOauth\./, "claude.")),
    );
  }
}

/**
 * Seals the owner ids that rows written before they were sealed hold in clear, and nulls the clear
 * column (a shredded row's is simply nulled). Idempotent and cheap when there is nothing left, so both
 * the API and the worker run it at start, after the migrations; returns how many rows it changed.
 */
export function sealClearOwnerIds(db: Db, sealer: Sealer): number {
  db.$client.run("PRAGMA secure_delete = ON");
  const rows = db
    .select({ id: customers.id, clear: customers.clearOwnerTelegramUserId, shreddedAt: customers.shreddedAt })
    .from(customers)
    .where(isNotNull(customers.clearOwnerTelegramUserId))
    .all();
  db.transaction((tx) => {
    for (const { id, clear, shreddedAt } of rows) {
      const sealed =
        clear === null || shreddedAt !== null
          ? null
          : sealer.seal(String(clear), context(id, "ownerTelegramUserId"));
      tx.update(customers)
        .set({ ownerTelegramUserId: sealed, clearOwnerTelegramUserId: null })
        // Another process may have sealed it meanwhile; its write stands.
        .where(and(eq(customers.id, id), isNotNull(customers.clearOwnerTelegramUserId)))
        .run();
    }
  });
  // Best effort: the clear values leave the WAL at this checkpoint, or at SQLite's next automatic one.
  if (rows.length > 0) db.$client.run("PRAGMA wal_checkpoint(TRUNCATE)");
  return rows.length;
}

/** Copies the WAL into the main file and truncates it, so no old page image holds the nulled ciphertext. */
function scrubFreedPages(db: Db, customerId: string): void {
  const result = db.$client.query<{ busy: number }, []>("PRAGMA wal_checkpoint(TRUNCATE)").get();
  if (result?.busy !== 0) throw new ShredIncompleteError(customerId);
}
