import { expect, test } from "bun:test";
import { loadConfig } from "../../core/config.ts";
import { problemsOf, requiredEnv } from "./config-support.ts";

const opsToken = "ops-token-0123456789-abcdefghijklmn";
const standardSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const stripeSecret = "whsec_5a1c0e5f0e0e4c5e9f3d2b1a0c9e8d7f";

test("ops token and webhook secrets are optional: unset, their routes stay off", () => {
  const config = loadConfig(requiredEnv());
  expect(config.opsToken).toBeUndefined();
  expect(config.standardWebhookSecret).toBeUndefined();
  expect(config.stripeWebhookSecret).toBeUndefined();
});

test("ops token and webhook secrets are read when set", () => {
  const config = loadConfig({
    ...requiredEnv(),
    OPS_TOKEN: opsToken,
    STANDARD_WEBHOOK_SECRET: standardSecret,
    STRIPE_WEBHOOK_SECRET: stripeSecret,
  });
  expect(config.opsToken).toBe(opsToken);
  expect(config.standardWebhookSecret).toBe(standardSecret);
  expect(config.stripeWebhookSecret).toBe(stripeSecret);
});

test("a short ops token and secrets without whsec_ are refused by name, without their values", () => {
  const problems = problemsOf({
    ...requiredEnv(),
    OPS_TOKEN: "too-short-ops-token",
    STANDARD_WEBHOOK_SECRET: "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    STRIPE_WEBHOOK_SECRET: "whsec_!!",
  });
  expect(problems).toEqual([
    "OPS_TOKEN: must be at least 32 characters",
    "STANDARD_WEBHOOK_SECRET: must be whsec_ followed by the provider's base64 secret",
    "STRIPE_WEBHOOK_SECRET: must be whsec_ followed by the provider's base64 secret",
  ]);
  expect(problems.join("\n")).not.toContain("MfKQ9r8");
});

test("reconcile settings default to a 5-minute sweep and parse when set", () => {
  const defaults = loadConfig(requiredEnv());
  expect(defaults.reconcileIntervalMs).toBe(300_000);
  expect(defaults.reconcileZombieGraceMs).toBe(600_000);
  expect(defaults.reconcileStuckAfterMs).toBe(900_000);
  expect(defaults.reprovisionLost).toBe(false);
  const set = loadConfig({
    ...requiredEnv(),
    RECONCILE_INTERVAL_MS: "60000",
    RECONCILE_ZOMBIE_GRACE_MS: "0",
    RECONCILE_STUCK_AFTER_MS: "120000",
    REPROVISION_LOST: "true",
  });
  expect([
    set.reconcileIntervalMs,
    set.reconcileZombieGraceMs,
    set.reconcileStuckAfterMs,
    set.reprovisionLost,
  ]).toEqual([60_000, 0, 120_000, true]);
  expect(problemsOf({ ...requiredEnv(), RECONCILE_INTERVAL_MS: "10", REPROVISION_LOST: "maybe" })).toEqual([
    "RECONCILE_INTERVAL_MS: must be an integer 1000-86400000",
    "REPROVISION_LOST: must be true or false",
  ]);
});

test("CRASH_AT is off by default, read against a simulator, refused against the real Hetzner API", () => {
  expect(loadConfig(requiredEnv()).crashAt).toBeUndefined();
  const simulated = { ...requiredEnv(), HCLOUD_ENDPOINT: "http://127.0.0.1:4010/v1" };
  expect(loadConfig({ ...simulated, CRASH_AT: "provision.create-server.ran" }).crashAt).toBe(
    "provision.create-server.ran",
  );
  expect(problemsOf({ ...requiredEnv(), CRASH_AT: "provision.create-server.ran" })).toEqual([
    "CRASH_AT: is a test fault hook; refused while HCLOUD_ENDPOINT is the real Hetzner API",
  ]);
  expect(problemsOf({ ...simulated, CRASH_AT: "anywhere" })).toEqual([
    "CRASH_AT: must name a crash point, e.g. provision.create-server.ran",
  ]);
});
