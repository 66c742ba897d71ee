import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig } from "../../core/config.ts";
import { problemsOf, requiredEnv } from "./config-support.ts";

const serviceToken = "service-token-0123456789-abcdefghij";
const dir = mkdtempSync(join(tmpdir(), "config-service-token-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test("SERVICE_TOKEN is optional: unset (or empty) leaves customer registration off", () => {
  expect(loadConfig(requiredEnv()).serviceToken).toBeUndefined();
  expect(loadConfig({ ...requiredEnv(), SERVICE_TOKEN: "" }).serviceToken).toBeUndefined();
});

test("SERVICE_TOKEN is read from the environment or from SERVICE_TOKEN_FILE", () => {
  expect(loadConfig({ ...requiredEnv(), SERVICE_TOKEN: serviceToken }).serviceToken).toBe(serviceToken);
  const file = join(dir, "service-token");
  writeFileSync(file, `${serviceToken}\n`);
  expect(loadConfig({ ...requiredEnv(), SERVICE_TOKEN_FILE: file }).serviceToken).toBe(serviceToken);
});

test("a short SERVICE_TOKEN is refused by name, without its value", () => {
  const problems = problemsOf({ ...requiredEnv(), SERVICE_TOKEN: "short-secret-value" });
  expect(problems).toEqual(["SERVICE_TOKEN: must be at least 32 characters"]);
  expect(problems.join("\n")).not.toContain("short-secret-value");
});
