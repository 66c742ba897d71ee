import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { eq } from "drizzle-orm";
import { isSecretsError } from "../../core/secrets.ts";
import { customers, instances } from "../../db/schema.ts";
import {
  CustomerSecretsGoneError,
  createCustomerStore,
  InvalidCustomerSecretsError,
  UnknownCustomerError,
} from "../../domain/customers.ts";
import { customerSecrets, openTestDatabase, type TestDatabase } from "../../harness/customers/fixtures.ts";
import { PermanentError } from "../../jobs/errors.ts";
import { issueCallbackToken } from "../../jobs/provision/callback-token.ts";

let t: TestDatabase;
beforeEach(() => {
  t = openTestDatabase();
});
afterEach(() => t.close());

function errorOf(action: () => unknown): unknown {
  try {
    action();
  } catch (err) {
    return err;
  }
  throw new Error("expected an error");
}

describe("customer store", () => {
  test("upsert then open returns the secrets; the database holds only sealed values", () => {
    const store = createCustomerStore({ db: t.db, sealer: t.sealer, now: () => 1000 });
    const secrets = customerSecrets("first");
    store.upsert("c1", secrets);
    expect(store.open("c1")).toEqual(secrets);

    const row = t.db.select().from(customers).where(eq(customers.id, "c1")).get();
    expect(row).toMatchObject({
      clearOwnerTelegramUserId: null,
      createdAt: 1000,
      updatedAt: 1000,
      shreddedAt: null,
    });
    expect(row?.telegramBotToken).toStartWith("v1:k1:");
    expect(row?.ownerTelegramUserId).toStartWith("v1:k1:");
    expect(row?.claudeCredentials).toStartWith("v1:k1:");
    t.db.$client.run("PRAGMA wal_checkpoint(TRUNCATE)");
    const file = readFileSync(join(t.dir, "app.sqlite"), "latin1");
    expect(file).not.toContain("first-telegram");
    expect(file).not.toContain("first-access");
    expect(file).not.toContain("first-refresh");
  });

  test("upsert replaces the secrets and keeps createdAt", () => {
    let clock = 1000;
    const store = createCustomerStore({ db: t.db, sealer: t.sealer, now: () => clock });
    store.upsert("c1", customerSecrets("old"));
    clock = 2000;
    store.upsert("c1", customerSecrets("new"));
    expect(store.open("c1")).toEqual(customerSecrets("new"));
    const row = t.db.select().from(customers).where(eq(customers.id, "c1")).get();
    expect(row).toMatchObject({ createdAt: 1000, updatedAt: 2000 });
  });

  test("sealed values swapped between customers or fields fail to open", () => {
    const store = createCustomerStore({ db: t.db, sealer: t.sealer });
    store.upsert("a", customerSecrets("alice"));
    store.upsert("b", customerSecrets("bob"));
    const a = t.db.select().from(customers).where(eq(customers.id, "a")).get();
    t.db.update(customers).set({ telegramBotToken: a?.telegramBotToken }).where(eq(customers.id, "b")).run();
    expect(
      isSecretsError(
        errorOf(() => store.open("b")),
        "tampered",
      ),
    ).toBe(true);

    store.upsert("b", customerSecrets("bob"));
    const b = t.db.select().from(customers).where(eq(customers.id, "b")).get();
    t.db.update(customers).set({ claudeCredentials: b?.telegramBotToken }).where(eq(customers.id, "b")).run();
    expect(
      isSecretsError(
        errorOf(() => store.open("b")),
        "tampered",
      ),
    ).toBe(true);
  });

  test("invalid secrets are refused, naming every bad field and no value", () => {
    const store = createCustomerStore({ db: t.db, sealer: t.sealer });
    const secrets = customerSecrets("bad");
    const err = errorOf(() =>
      store.upsert("bad:id", {
        telegramBotToken: "not-a-token-bad-telegram",
        ownerTelegramUserId: -3,
        claude: { ...secrets.claude, accessToken: "has space bad-access", scopes: ["user:profile"] },
      }),
    );
    expect(err).toBeInstanceOf(InvalidCustomerSecretsError);
    expect(err).toBeInstanceOf(PermanentError);
    expect((err as InvalidCustomerSecretsError).fields).toEqual([
      "customerId",
      "telegramBotToken",
      "ownerTelegramUserId",
      "claude.accessToken",
      "claude.scopes",
    ]);
    expect(String(err)).not.toContain("bad-telegram");
    expect(String(err)).not.toContain("bad-access");
    expect(t.db.select().from(customers).all()).toEqual([]);
  });

  test("an owner id given as a string is refused: the column is an integer", () => {
    const store = createCustomerStore({ db: t.db, sealer: t.sealer });
    const secrets = { ...customerSecrets("str"), ownerTelegramUserId: "424242" as unknown as number };
    const err = errorOf(() => store.upsert("c1", secrets));
    expect((err as InvalidCustomerSecretsError).fields).toEqual(["ownerTelegramUserId"]);
  });

  test("open of an unknown customer is a permanent UnknownCustomerError", () => {
    const store = createCustomerStore({ db: t.db, sealer: t.sealer });
    const err = errorOf(() => store.open("nobody"));
    expect(err).toBeInstanceOf(UnknownCustomerError);
    expect(err).toBeInstanceOf(PermanentError);
  });

  test("shred nulls the sealed columns, is idempotent, and open then reports the secrets gone", () => {
    let clock = 1000;
    const store = createCustomerStore({ db: t.db, sealer: t.sealer, now: () => clock });
    store.upsert("c1", customerSecrets("shred"));
    clock = 5000;
    store.shred("c1");
    clock = 9000;
    store.shred("c1");
    store.shred("never-existed");

    const row = t.db.select().from(customers).where(eq(customers.id, "c1")).get();
    expect(row).toMatchObject({
      telegramBotToken: null,
      ownerTelegramUserId: null,
      clearOwnerTelegramUserId: null,
      claudeCredentials: null,
      shreddedAt: 5000,
    });
    const err = errorOf(() => store.open("c1"));
    expect(err).toBeInstanceOf(CustomerSecretsGoneError);
    expect(err).toBeInstanceOf(PermanentError);
    expect((err as CustomerSecretsGoneError).code).toBe("customer_secrets_gone");
  });

  test("shred scrubs the old ciphertext from the database files, with what the connection nulled before it", () => {
    const store = createCustomerStore({ db: t.db, sealer: t.sealer });
    store.upsert("c1", customerSecrets("scrub"));
    t.db.insert(instances).values({ id: "i1", customerId: "c1", createdAt: 1, updatedAt: 1 }).run();
    issueCallbackToken(t.db, t.sealer, "i1");
    t.db.$client.run("PRAGMA wal_checkpoint(TRUNCATE)");
    const sealedValues = [
      ...Object.values(t.db.select().from(customers).get() ?? {}),
      t.db.select().from(instances).get()?.callbackToken,
    ].filter((value): value is string => typeof value === "string" && value.startsWith("v1:"));
    expect(sealedValues).toHaveLength(4);

    t.db.update(instances).set({ callbackToken: null }).run();
    store.shred("c1");
    const files = ["app.sqlite", "app.sqlite-wal"]
      .filter((name) => existsSync(join(t.dir, name)))
      .map((name) => readFileSync(join(t.dir, name), "latin1"))
      .join("");
    // The ciphertext part after "v1:k1:<iv>:" is what a leaked file plus the key would open.
    for (const sealed of sealedValues) expect(files).not.toContain(sealed.split(":")[3]);
  });

  test("a shredded customer who subscribes again gets fresh secrets", () => {
    const store = createCustomerStore({ db: t.db, sealer: t.sealer });
    store.upsert("c1", customerSecrets("before"));
    store.shred("c1");
    store.upsert("c1", customerSecrets("after"));
    expect(store.open("c1")).toEqual(customerSecrets("after"));
  });
});
