import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError, generateDevSecrets, loadConfig } from "../../core/config.ts";

/** The required variables only: the dev secrets include a SERVICE_TOKEN, which these tests set themselves. */
const required = () => {
  const { SERVICE_TOKEN: _, ...secrets } = generateDevSecrets();
  return { ...secrets, HCLOUD_TOKEN: "hcloud-token-value" };
};
const serviceToken = "service-token-0123456789-abcdefghij";
const dir = mkdtempSync(join(tmpdir(), "config-service-token-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function problemsOf(env: Record<string, string | undefined>): readonly string[] {
  try {
    loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error("expected a ConfigError");
}

test("SERVICE_TOKEN is optional: unset (or empty) leaves customer registration off", () => {
  expect(loadConfig(required()).serviceToken).toBeUndefined();
  expect(loadConfig({ ...required(), SERVICE_TOKEN: "" }).serviceToken).toBeUndefined();
});

test("SERVICE_TOKEN is read from the environment or from SERVICE_TOKEN_FILE", () => {
  expect(loadConfig({ ...required(), SERVICE_TOKEN: serviceToken }).serviceToken).toBe(serviceToken);
  const file = join(dir, "service-token");
  writeFileSync(file, `${serviceToken}\n`);
  expect(loadConfig({ ...required(), SERVICE_TOKEN_FILE: file }).serviceToken).toBe(serviceToken);
});

test("a short SERVICE_TOKEN is refused by name, without its value", () => {
  const problems = problemsOf({ ...required(), SERVICE_TOKEN: "short-secret-value" });
  expect(problems).toEqual(["SERVICE_TOKEN: must be at least 32 characters"]);
  expect(problems.join("\n")).not.toContain("short-secret-value");
});
