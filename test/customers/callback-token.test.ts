import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { eq } from "drizzle-orm";
import { instances } from "../../db/schema.ts";
import { openTestDatabase, type TestDatabase } from "../../harness/customers/fixtures.ts";
import { UnknownInstanceError } from "../../jobs/errors.ts";
import { issueCallbackToken, verifyCallbackToken } from "../../jobs/provision/callback-token.ts";

let t: TestDatabase;
beforeEach(() => {
  t = openTestDatabase();
  t.db.insert(instances).values({ id: "iabc", createdAt: 1, updatedAt: 1 }).run();
});
afterEach(() => t.close());

describe("callback token", () => {
  test("is issued once, URL-safe, stable across calls and sealed at rest", () => {
    const token = issueCallbackToken(t.db, t.sealer, "iabc");
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(issueCallbackToken(t.db, t.sealer, "iabc")).toBe(token);
    const stored = t.db.select().from(instances).where(eq(instances.id, "iabc")).get()?.callbackToken;
    expect(stored).toStartWith("v1:k1:");
    expect(stored).not.toContain(token);
  });

  test("differs per instance", () => {
    t.db.insert(instances).values({ id: "ixyz", createdAt: 1, updatedAt: 1 }).run();
    expect(issueCallbackToken(t.db, t.sealer, "iabc")).not.toBe(issueCallbackToken(t.db, t.sealer, "ixyz"));
  });

  test("verifies only the exact token of that instance", () => {
    t.db.insert(instances).values({ id: "ixyz", createdAt: 1, updatedAt: 1 }).run();
    const token = issueCallbackToken(t.db, t.sealer, "iabc");
    const other = issueCallbackToken(t.db, t.sealer, "ixyz");
    expect(verifyCallbackToken(t.db, t.sealer, "iabc", token)).toBe(true);
    expect(verifyCallbackToken(t.db, t.sealer, "iabc", other)).toBe(false);
    expect(verifyCallbackToken(t.db, t.sealer, "iabc", token.slice(1))).toBe(false);
    expect(verifyCallbackToken(t.db, t.sealer, "iabc", `${token}x`)).toBe(false);
    expect(verifyCallbackToken(t.db, t.sealer, "iabc", "")).toBe(false);
  });

  test("an instance without a token verifies nothing; an unknown instance is a typed error", () => {
    expect(verifyCallbackToken(t.db, t.sealer, "iabc", "")).toBe(false);
    expect(() => verifyCallbackToken(t.db, t.sealer, "nope", "x")).toThrow(UnknownInstanceError);
    expect(() => issueCallbackToken(t.db, t.sealer, "nope")).toThrow(UnknownInstanceError);
  });
});
