/** planClaudeDelivery: when an injection writes the credentials file, and when their tokens may be stale. */
import { describe, expect, test } from "bun:test";
import type { instances } from "../../db/schema.ts";
import { planClaudeDelivery } from "../../jobs/provision/steps/claude-delivery.ts";

type Row = typeof instances.$inferSelect;
const instance = (fields: Partial<Row>) =>
  ({ id: "i1", hetznerServerId: 10, claudeCredentialsVersion: null, ...fields }) as Row;

describe("planClaudeDelivery", () => {
  test("first delivery to a server: written, nobody else held them", () => {
    expect(planClaudeDelivery(instance({}), { version: 1, deliveredToServerId: null })).toEqual({
      write: true,
      version: 1,
      reloginReason: null,
    });
  });

  test("the server already holds this version: kept (its Claude Code owns the refreshed tokens)", () => {
    const plan = planClaudeDelivery(instance({ claudeCredentialsVersion: 3 }), {
      version: 3,
      deliveredToServerId: 10,
    });
    expect(plan).toMatchObject({ write: false, reloginReason: null });
  });

  test("the customer sent newer credentials: written", () => {
    const plan = planClaudeDelivery(instance({ claudeCredentialsVersion: 1 }), {
      version: 2,
      deliveredToServerId: null,
    });
    expect(plan).toMatchObject({ write: true, version: 2, reloginReason: null });
  });

  test("a replacement server gets tokens another server held and was not asked for: needs re-login", () => {
    const plan = planClaudeDelivery(instance({ hetznerServerId: 11 }), {
      version: 1,
      deliveredToServerId: 10,
    });
    expect(plan.write).toBe(true);
    expect(plan.reloginReason).toContain(
      "were delivered to server 10 before and may have been rotated there",
    );
  });

  test("a retried injection into the same server is no re-login", () => {
    const plan = planClaudeDelivery(instance({}), { version: 1, deliveredToServerId: 10 });
    expect(plan).toMatchObject({ write: true, reloginReason: null });
  });
});
