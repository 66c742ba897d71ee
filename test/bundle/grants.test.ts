import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { eq } from "drizzle-orm";
import { bundleGrants, instances } from "../../db/schema.ts";
import {
  authorizeBundleDownload,
  ConflictingBundleGrantError,
  endBundleGrant,
  issueBundleGrant,
} from "../../domain/bundles/grants.ts";
import { bundlesInUse, instancesByBundle, recordInstanceBundle } from "../../domain/bundles/usage.ts";
import { openTestDatabase, type TestDatabase } from "../../harness/customers/fixtures.ts";
import { UnknownInstanceError } from "../../jobs/errors.ts";

const A = "a".repeat(64);
const B = "b".repeat(64);
const NOW = 1_000_000;

let t: TestDatabase;
beforeEach(() => {
  t = openTestDatabase();
  for (const id of ["i1", "i2"]) t.db.insert(instances).values({ id, createdAt: 1, updatedAt: 1 }).run();
});
afterEach(() => t.close());

const boot = (overrides: Partial<Parameters<typeof issueBundleGrant>[2]> = {}) =>
  issueBundleGrant(t.db, t.sealer, {
    grantId: "provision:i1:1",
    instanceId: "i1",
    purpose: "boot",
    bundleId: A,
    expiresAt: NOW + 60_000,
    now: NOW,
    ...overrides,
  });
const claim = (token: string, overrides: Partial<Parameters<typeof authorizeBundleDownload>[2]> = {}) =>
  authorizeBundleDownload(t.db, t.sealer, { instanceId: "i1", bundleId: A, token, now: NOW, ...overrides });

describe("bundle grants", () => {
  test("a grant's token is URL-safe, the same when issued again, and sealed at rest", () => {
    const token = boot();
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(boot()).toBe(token);
    const stored = t.db.select().from(bundleGrants).where(eq(bundleGrants.id, "provision:i1:1")).get();
    expect(stored?.token).toStartWith("v1:k1:");
    expect(stored?.token).not.toContain(token);
    expect(() => boot({ bundleId: B })).toThrow(ConflictingBundleGrantError);
    expect(() => boot({ grantId: "provision:x:1", instanceId: "nope" })).toThrow(UnknownInstanceError);
  });

  test("opens only its bundle, for its instance, with its exact token, until its deadline", () => {
    const token = boot();
    expect(claim(token)).toBe("provision:i1:1");
    expect(claim(token, { bundleId: B })).toBeNull();
    expect(claim(token, { instanceId: "i2" })).toBeNull();
    expect(claim(`${token}x`)).toBeNull();
    expect(claim("")).toBeNull();
    expect(claim(token, { now: NOW + 60_000 })).toBeNull();
  });

  test("a boot's grant ends with the cloud-init callback; an upgrade's when it is ended", () => {
    const bootToken = boot();
    const upgradeToken = boot({ grantId: "upgrade:i1:1", purpose: "upgrade", bundleId: B });
    t.db.update(instances).set({ callbackReceivedAt: NOW }).where(eq(instances.id, "i1")).run();
    expect(claim(bootToken)).toBeNull();
    expect(claim(upgradeToken, { bundleId: B })).toBe("upgrade:i1:1");
    // Each grant has its own token: the boot's does not open the upgrade's bundle.
    expect(claim(bootToken, { bundleId: B })).toBeNull();
    endBundleGrant(t.db, "upgrade:i1:1", NOW);
    endBundleGrant(t.db, "upgrade:i1:1", NOW + 1);
    expect(claim(upgradeToken, { bundleId: B })).toBeNull();
  });

  test("bundles in use: those live instances run and those live grants may fetch", () => {
    boot();
    recordInstanceBundle(t.db, "i2", B, NOW);
    expect(instancesByBundle(t.db)).toEqual(new Map([[B, ["i2"]]]));
    expect(bundlesInUse(t.db, NOW)).toEqual(new Set([A, B]));
    expect(bundlesInUse(t.db, NOW + 60_000)).toEqual(new Set([B]));
    t.db.update(instances).set({ status: "deprovisioned" }).where(eq(instances.id, "i2")).run();
    expect(bundlesInUse(t.db, NOW + 60_000)).toEqual(new Set());
  });
});
