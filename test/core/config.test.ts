import { afterAll, describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Config, generateDevSecrets, loadConfig } from "../../core/config.ts";
import { problemsOf, requiredEnv } from "./config-support.ts";

const dir = mkdtempSync(join(tmpdir(), "core-config-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const key = () => randomBytes(32).toString("base64");

function writeSecret(name: string, content: string): string {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
}

describe("loadConfig", () => {
  test("applies every documented default when only the required secrets are set", () => {
    const config = loadConfig(requiredEnv());
    expect(config).toMatchObject({
      dataDir: "./data",
      apiHost: "127.0.0.1",
      apiPort: 8080,
      brokerHost: "127.0.0.1",
      brokerPort: 6789,
      brokerHttpPort: 6790,
      logLevel: "info",
      logPretty: false,
      hcloudEndpoint: "https://api.hetzner.cloud/v1",
      workerConcurrency: 64,
      shutdownTimeoutMs: 20000,
      jobLockMs: 30000,
      leaseTtlMs: 30000,
      heartbeatMs: 5000,
      workerMetricsPort: 9464,
    } satisfies Partial<Config>);
    expect(config.secretsKeys.currentId).toBe("k1");
    expect([...config.secretsKeys.keys.keys()]).toEqual(["k1"]);
  });

  test("parses every variable", () => {
    const config = loadConfig({
      ...requiredEnv(),
      DATA_DIR: "/var/lib/rachel",
      API_HOST: "0.0.0.0",
      API_PORT: "9000",
      BROKER_HOST: "broker.internal",
      BROKER_PORT: "7000",
      BROKER_HTTP_PORT: "7001",
      SECRETS_KEY_ID: "k2",
      SECRETS_OLD_KEYS: `k0:${key()}, k1:${key()}`,
      LOG_LEVEL: "debug",
      LOG_PRETTY: "true",
      HCLOUD_ENDPOINT: "http://127.0.0.1:4010/v1/",
      WORKER_CONCURRENCY: "2",
      SHUTDOWN_TIMEOUT_MS: "1500",
      JOB_LOCK_MS: "4000",
      LEASE_TTL_MS: "3000",
      HEARTBEAT_MS: "500",
      WORKER_METRICS_PORT: "0",
    });
    expect(config).toMatchObject({
      dataDir: "/var/lib/rachel",
      apiHost: "0.0.0.0",
      apiPort: 9000,
      brokerHost: "broker.internal",
      brokerPort: 7000,
      brokerHttpPort: 7001,
      logLevel: "debug",
      logPretty: true,
      hcloudEndpoint: "http://127.0.0.1:4010/v1",
      workerConcurrency: 2,
      shutdownTimeoutMs: 1500,
      jobLockMs: 4000,
      leaseTtlMs: 3000,
      heartbeatMs: 500,
      workerMetricsPort: 0,
    });
    expect(config.secretsKeys.currentId).toBe("k2");
    expect([...config.secretsKeys.keys.keys()].sort()).toEqual(["k0", "k1", "k2"]);
  });

  test("treats empty values as unset", () => {
    expect(loadConfig({ ...requiredEnv(), API_PORT: "", LOG_LEVEL: "" }).apiPort).toBe(8080);
    expect(problemsOf({ ...requiredEnv(), BROKER_TOKEN: "" })).toEqual(["BROKER_TOKEN: required"]);
  });

  test("reports every missing variable by name, one per line", () => {
    const problems = problemsOf({});
    expect(problems).toEqual([
      "BROKER_TOKEN: required",
      "SECRETS_KEY: required",
      "HCLOUD_TOKEN: required (or HCLOUD_PROJECTS)",
    ]);
    expect(() => loadConfig({})).toThrow(
      "BROKER_TOKEN: required\nSECRETS_KEY: required\nHCLOUD_TOKEN: required",
    );
  });

  test("reports every invalid variable at once, without echoing values", () => {
    const badKey = "c2VjcmV0LWJ1dC10b28tc2hvcnQ=";
    const badOld = `old:${randomBytes(16).toString("base64")}`;
    const problems = problemsOf({
      ...requiredEnv(),
      API_PORT: "80a",
      BROKER_PORT: "70000",
      BROKER_HTTP_PORT: "0",
      SECRETS_KEY: badKey,
      SECRETS_KEY_ID: "k:1",
      SECRETS_OLD_KEYS: `${badOld},bad id:${key()}`,
      LOG_LEVEL: "loud",
      LOG_PRETTY: "yes",
      HCLOUD_ENDPOINT: "ftp://example.test",
      WORKER_CONCURRENCY: "-1",
      API_HOST: "a b",
    });
    expect(problems).toEqual([
      "API_HOST: must be a hostname or IP address",
      "API_PORT: must be an integer 1-65535",
      "BROKER_PORT: must be an integer 1-65535",
      "BROKER_HTTP_PORT: must be an integer 1-65535",
      "SECRETS_KEY: must be base64 of exactly 32 bytes",
      "SECRETS_KEY_ID: must be 1-64 letters, digits, '_' or '-'",
      "SECRETS_OLD_KEYS: entry 1: key must be base64 of exactly 32 bytes",
      "SECRETS_OLD_KEYS: entry 2: key id must be 1-64 letters, digits, '_' or '-'",
      "LOG_LEVEL: must be one of fatal, error, warn, info, debug, trace, silent",
      "LOG_PRETTY: must be true or false",
      "HCLOUD_ENDPOINT: must be an http(s) URL without credentials or query",
      "WORKER_CONCURRENCY: must be an integer 1-1000",
    ]);
    const text = problems.join("\n");
    expect(text).not.toContain(badKey);
    expect(text).not.toContain(badOld.slice(4));
  });

  test("refuses an endpoint that would carry credentials into logs", () => {
    for (const endpoint of ["https://user:pw@api.example.test/v1", "https://api.example.test/v1?token=x"]) {
      expect(problemsOf({ ...requiredEnv(), HCLOUD_ENDPOINT: endpoint })).toEqual([
        "HCLOUD_ENDPOINT: must be an http(s) URL without credentials or query",
      ]);
    }
  });

  test("checks settings against each other", () => {
    expect(problemsOf({ ...requiredEnv(), HEARTBEAT_MS: "30000" })).toEqual([
      "HEARTBEAT_MS: must be less than JOB_LOCK_MS and LEASE_TTL_MS",
    ]);
    expect(problemsOf({ ...requiredEnv(), SECRETS_OLD_KEYS: `k1:${key()}` })).toEqual([
      "SECRETS_OLD_KEYS: must not repeat SECRETS_KEY_ID",
    ]);
  });

  test("returns a deeply frozen object", () => {
    const config = loadConfig(requiredEnv());
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.secretsKeys)).toBe(true);
    expect(() => {
      (config as { apiPort: number }).apiPort = 1;
    }).toThrow(TypeError);
    const keys = config.secretsKeys.keys as Map<string, unknown>;
    expect(() => keys.set("evil", "x")).toThrow(TypeError);
    expect(() => keys.delete("k1")).toThrow(TypeError);
    expect(keys.size).toBe(1);
  });
});

describe("*_FILE variants", () => {
  test("read secrets from files, dropping a trailing newline", () => {
    const secretsKey = key();
    const config = loadConfig({
      BROKER_TOKEN_FILE: writeSecret("broker-token", "token-from-file\n"),
      SECRETS_KEY_FILE: writeSecret("secrets-key", `${secretsKey}\r\n`),
      HCLOUD_TOKEN_FILE: writeSecret("hcloud-token", "hcloud-from-file"),
      SECRETS_OLD_KEYS_FILE: writeSecret("old-keys", `k0:${key()}\n`),
    });
    expect(config.brokerToken).toBe("token-from-file");
    expect(config.hcloudProjects.map((p) => p.token)).toEqual(["hcloud-from-file"]);
    expect(config.secretsKeys.keys.get("k1")?.export().toString("base64")).toBe(secretsKey);
    expect(config.secretsKeys.keys.has("k0")).toBe(true);
  });

  test("setting both the variable and its _FILE names both", () => {
    const problems = problemsOf({ ...requiredEnv(), BROKER_TOKEN_FILE: writeSecret("both", "x") });
    expect(problems).toEqual(["BROKER_TOKEN, BROKER_TOKEN_FILE: set only one of them"]);
  });

  test("a missing, unreadable (a directory) or empty file names the _FILE variable, not a missing value", () => {
    const missing = join(dir, "does-not-exist");
    const { HCLOUD_TOKEN: _omitted, ...rest } = requiredEnv();
    const problems = problemsOf({
      ...rest,
      BROKER_TOKEN: undefined,
      BROKER_TOKEN_FILE: missing,
      HCLOUD_TOKEN_FILE: writeSecret("empty", "\n"),
      SECRETS_KEY: undefined,
      SECRETS_KEY_FILE: dir,
    });
    expect(problems).toEqual([
      `BROKER_TOKEN_FILE: cannot read ${missing}`,
      `SECRETS_KEY_FILE: cannot read ${dir}`,
      `HCLOUD_TOKEN_FILE: empty file ${join(dir, "empty")}`,
    ]);
  });

  test("a secret read from a file is validated like the variable, without echoing it", () => {
    const problems = problemsOf({
      ...requiredEnv(),
      SECRETS_KEY: undefined,
      SECRETS_KEY_FILE: writeSecret("short-key", "dG9vLXNob3J0\n"),
    });
    expect(problems).toEqual(["SECRETS_KEY: must be base64 of exactly 32 bytes"]);
  });
});

test("generateDevSecrets gives fresh values that load", () => {
  const first = generateDevSecrets();
  const second = generateDevSecrets();
  expect(first.BROKER_TOKEN).not.toBe(second.BROKER_TOKEN);
  expect(first.SECRETS_KEY).not.toBe(second.SECRETS_KEY);
  expect(Buffer.from(first.SECRETS_KEY, "base64")).toHaveLength(32);
  expect(first.STANDARD_WEBHOOK_SECRET).not.toBe(second.STANDARD_WEBHOOK_SECRET);
  const config = loadConfig({ ...first, HCLOUD_TOKEN: "t" });
  expect(config.brokerToken).toBe(first.BROKER_TOKEN);
  expect(config.standardWebhookSecret).toBe(first.STANDARD_WEBHOOK_SECRET);
  expect(config.stripeWebhookSecret).toBe(first.STRIPE_WEBHOOK_SECRET);
});
