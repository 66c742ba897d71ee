/**
 * The stored Claude credentials' version and holder: what decides whether an injection rewrites a machine's
 * credentials file, and whether the tokens a replacement server gets may be stale.
 */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { createCustomerStore, InvalidCustomerSecretsError } from "../../domain/customers.ts";
import { customerSecrets, openTestDatabase, type TestDatabase } from "../../harness/customers/fixtures.ts";

let t: TestDatabase;
beforeEach(() => {
  t = openTestDatabase();
});
afterEach(() => t.close());

describe("Claude credentials versions", () => {
  test("new credentials bump the version and belong to no server; the same ones keep both", () => {
    const store = createCustomerStore({ db: t.db, sealer: t.sealer });
    const first = customerSecrets("v1");
    store.upsert("c1", first);
    expect(store.claudeState("c1")).toEqual({ version: 1, deliveredToServerId: null });
    expect(store.recordClaudeDelivery("c1", 1, 77)).toBe(true);
    store.upsert("c1", { ...first, telegramBotToken: customerSecrets("tg").telegramBotToken });
    expect(store.claudeState("c1")).toEqual({ version: 1, deliveredToServerId: 77 });
    store.upsert("c1", customerSecrets("v2"));
    expect(store.claudeState("c1")).toEqual({ version: 2, deliveredToServerId: null });
    // A delivery of version 1 that finishes after version 2 arrived records nothing.
    expect(store.recordClaudeDelivery("c1", 1, 78)).toBe(false);
    expect(store.claudeState("c1").deliveredToServerId).toBeNull();
  });

  test("taking back a machine's rotated tokens stores them as a new version held by nobody", () => {
    const store = createCustomerStore({ db: t.db, sealer: t.sealer });
    const secrets = customerSecrets("held");
    store.upsert("c1", secrets);
    store.recordClaudeDelivery("c1", 1, 77);
    const rotated = {
      ...secrets.claude,
      accessToken: "sk-ant-oat01-rotated",
      refreshToken: "sk-ant-ort01-rotated",
    };
    expect(store.takeBackClaude("c1", 1, rotated)).toBe(true);
    expect(store.claudeState("c1")).toEqual({ version: 2, deliveredToServerId: null });
    expect(store.open("c1").claude).toEqual(rotated);
    // Unchanged tokens: same version, but no machine holds them any more.
    store.recordClaudeDelivery("c1", 2, 78);
    expect(store.takeBackClaude("c1", 2, rotated)).toBe(true);
    expect(store.claudeState("c1")).toEqual({ version: 2, deliveredToServerId: null });
    // The customer sent newer ones meanwhile: the machine's are not taken.
    expect(store.takeBackClaude("c1", 1, secrets.claude)).toBe(false);
    expect(store.open("c1").claude).toEqual(rotated);
  });

  test("tokens read back from a machine are validated like the customer's", () => {
    const store = createCustomerStore({ db: t.db, sealer: t.sealer });
    store.upsert("c1", customerSecrets("bad"));
    const bad = { ...customerSecrets("bad").claude, scopes: ["user:profile"] };
    expect(() => store.takeBackClaude("c1", 1, bad)).toThrow(InvalidCustomerSecretsError);
    expect(store.claudeState("c1").version).toBe(1);
  });
});
