/**
 * The service's whole configuration: one zod schema over environment variables, parsed once at start,
 * deeply frozen and passed down. Nothing else reads process.env.
 *
 * To add a setting: a line in `Config`, a line in `envSchema`, a line in `toConfig`, and its entry in
 * `.env.example` (a test checks the example names every variable).
 */

import { type KeyObject, randomBytes } from "node:crypto";
import { writeSync } from "node:fs";
import { z } from "zod";
import {
  aesKey,
  bearerToken,
  booleanFlag,
  cidrList,
  hcloudName,
  hcloudNameList,
  host,
  httpOrigin,
  httpUrl,
  integer,
  keyId,
  type LogLevel,
  logLevel,
  oldKeys,
  port,
  repoUrl,
  text,
  webhookSecret,
} from "./config-fields.ts";
import { deepFreeze } from "./deep-freeze.ts";
import { readSecretFiles } from "./secret-files.ts";

export { LOG_LEVELS, type LogLevel } from "./config-fields.ts";

/** Host of Hetzner's real API: fault hooks are refused against it. */
const REAL_HETZNER_HOST = "api.hetzner.cloud";

/** Longest duration setting accepted: one day, in milliseconds. */
const MAX_MS = 86_400_000;

export interface Config {
  /** Directory for the broker's and the application's SQLite files. DATA_DIR, default "./data". */
  readonly dataDir: string;
  /** Interface the HTTP API binds to. API_HOST, default "127.0.0.1". */
  readonly apiHost: string;
  /** TCP port of the HTTP API. API_PORT, default 8080. */
  readonly apiPort: number;
  /**
   * Bearer token other services present to register customers (PUT /v1/customers/…); unset, that route
   * answers 503. SERVICE_TOKEN or SERVICE_TOKEN_FILE, optional, secret, at least 32 characters; default unset.
   */
  readonly serviceToken: string | undefined;
  /**
   * Bearer token operators present to /v1/ops/… (`bun run ops`); unset, those routes answer 503.
   * OPS_TOKEN or OPS_TOKEN_FILE, optional, secret, at least 32 characters; default unset.
   */
  readonly opsToken: string | undefined;
  /**
   * Secret that verifies `POST /v1/webhooks/standard` (Standard Webhooks); unset, that route answers 503.
   * STANDARD_WEBHOOK_SECRET or STANDARD_WEBHOOK_SECRET_FILE, optional, secret, `whsec_…`; default unset.
   */
  readonly standardWebhookSecret: string | undefined;
  /**
   * Secret that verifies `POST /v1/webhooks/stripe` (Stripe-Signature); unset, that route answers 503.
   * STRIPE_WEBHOOK_SECRET or STRIPE_WEBHOOK_SECRET_FILE, optional, secret, `whsec_…`; default unset.
   */
  readonly stripeWebhookSecret: string | undefined;
  /** Host of the bunqueue broker. BROKER_HOST, default "127.0.0.1". */
  readonly brokerHost: string;
  /** TCP (client protocol) port of the broker. BROKER_PORT, default 6789. */
  readonly brokerPort: number;
  /** HTTP (health, Prometheus) port of the broker. BROKER_HTTP_PORT, default 6790. */
  readonly brokerHttpPort: number;
  /** Shared token clients present to the broker. BROKER_TOKEN or BROKER_TOKEN_FILE, required, secret. */
  readonly brokerToken: string;
  /** Keys sealing secrets at rest: SECRETS_KEY (id SECRETS_KEY_ID, default "k1") seals, SECRETS_OLD_KEYS still open. */
  readonly secretsKeys: { readonly currentId: string; readonly keys: ReadonlyMap<string, KeyObject> };
  /** Minimum log level. LOG_LEVEL, default "info". */
  readonly logLevel: LogLevel;
  /** Human-readable colored logs instead of JSON lines. LOG_PRETTY, default false. */
  readonly logPretty: boolean;
  /** Hetzner Cloud API token. HCLOUD_TOKEN or HCLOUD_TOKEN_FILE, required, secret. */
  readonly hcloudToken: string;
  /** Hetzner Cloud API base URL, no trailing slash. HCLOUD_ENDPOINT, default "https://api.hetzner.cloud/v1". */
  readonly hcloudEndpoint: string;
  /**
   * Jobs one worker process runs at once. WORKER_CONCURRENCY, default 64: steps are I/O-bound (SSH, HTTP)
   * and verify holds its slot through the settle period, so a burst of provisions needs many slots.
   */
  readonly workerConcurrency: number;
  /** Bound on graceful shutdown before a process gives up on in-flight work, in ms. SHUTDOWN_TIMEOUT_MS, default 20000. */
  readonly shutdownTimeoutMs: number;
  /** Broker lock a worker holds on a job and renews, in ms. JOB_LOCK_MS, default 30000. */
  readonly jobLockMs: number;
  /** Lifetime of the per-instance fencing lease, in ms. LEASE_TTL_MS, default 30000. */
  readonly leaseTtlMs: number;
  /** Interval at which locks and leases are renewed, in ms; below JOB_LOCK_MS and LEASE_TTL_MS. HEARTBEAT_MS, default 5000. */
  readonly heartbeatMs: number;
  /** Port of the worker's GET /metrics server; 0 disables it. WORKER_METRICS_PORT, default 9464. */
  readonly workerMetricsPort: number;
  /** Base URL servers reach the API at (cloud-init callbacks), no trailing slash. PUBLIC_BASE_URL, default `http://<API_HOST>:<API_PORT>`. */
  readonly publicBaseUrl: string;
  /** CIDR blocks allowed to SSH into customer servers (bare IPs get /32 or /128). CONTROL_PLANE_IPS, default ["127.0.0.1/32"]. */
  readonly controlPlaneIps: readonly string[];
  /** Hetzner locations to create servers in, preferred first. PROVISION_LOCATIONS, default ["nbg1", "fsn1", "hel1"]. */
  readonly provisionLocations: readonly string[];
  /** Hetzner server type of customer servers. SERVER_TYPE, default "cx23". */
  readonly serverType: string;
  /** Hetzner image of customer servers. SERVER_IMAGE, default "ubuntu-24.04". */
  readonly serverImage: string;
  /** Port customer servers' sshd listens on. SSH_PORT, default 22. */
  readonly sshPort: number;
  /** Deadline for a new server's cloud-init callback, in ms. CLOUD_INIT_TIMEOUT_MS, default 600000. */
  readonly cloudInitTimeoutMs: number;
  /** How long the app must stay active after start to count as verified, in ms. VERIFY_SETTLE_MS, default 10000. */
  readonly verifySettleMs: number;
  /** Git repository of the deployed app. APP_REPO_URL, default "https://github.com/polly3223/Rachel8.git". */
  readonly appRepoUrl: string;
  /**
   * How long Hetzner takes to delete a server, in ms: a deprovision polls the delete action once after it.
   * EXPECTED_SERVER_DELETION_MS, default 5000 (Hetzner's usual; a time-compressed simulator needs less).
   */
  readonly expectedServerDeletionMs: number;
  /** Interval of the scheduled reconcile sweep, in ms. RECONCILE_INTERVAL_MS, default 300000 (5 min). */
  readonly reconcileIntervalMs: number;
  /** Age below which a server of ours nobody owns is spared by the sweep, in ms. RECONCILE_ZOMBIE_GRACE_MS, default 600000. */
  readonly reconcileZombieGraceMs: number;
  /** How long an unfinished job may go without progress and without a broker job before the sweep acts, in ms. RECONCILE_STUCK_AFTER_MS, default 900000. */
  readonly reconcileStuckAfterMs: number;
  /** Whether the sweep provisions a lost instance (ready, server gone) again. REPROVISION_LOST, default false. */
  readonly reprovisionLost: boolean;
  /**
   * Test fault hook: the process SIGKILLs itself on reaching this crash point (core/crash-point.ts).
   * CRASH_AT, default unset; refused while HCLOUD_ENDPOINT is the real Hetzner API.
   */
  readonly crashAt: string | undefined;
}

const envSchema = z
  .object({
    DATA_DIR: text().default("./data"),
    API_HOST: host().default("127.0.0.1"),
    API_PORT: port().default(8080),
    // Optional: the broker and worker share this schema and never use it (see api/routes/customers.ts).
    SERVICE_TOKEN: bearerToken().optional(),
    OPS_TOKEN: bearerToken().optional(),
    STANDARD_WEBHOOK_SECRET: webhookSecret().optional(),
    STRIPE_WEBHOOK_SECRET: webhookSecret().optional(),
    BROKER_HOST: host().default("127.0.0.1"),
    BROKER_PORT: port().default(6789),
    BROKER_HTTP_PORT: port().default(6790),
    BROKER_TOKEN: text(),
    SECRETS_KEY: aesKey(),
    SECRETS_KEY_ID: keyId().default("k1"),
    SECRETS_OLD_KEYS: oldKeys().default([]),
    LOG_LEVEL: logLevel().default("info"),
    LOG_PRETTY: booleanFlag().default(false),
    HCLOUD_TOKEN: text(),
    HCLOUD_ENDPOINT: httpUrl().default("https://api.hetzner.cloud/v1"),
    WORKER_CONCURRENCY: integer(1, 1000).default(64),
    SHUTDOWN_TIMEOUT_MS: integer(1, MAX_MS).default(20_000),
    JOB_LOCK_MS: integer(1, MAX_MS).default(30_000),
    LEASE_TTL_MS: integer(1, MAX_MS).default(30_000),
    HEARTBEAT_MS: integer(1, MAX_MS).default(5_000),
    WORKER_METRICS_PORT: integer(0, 65535).default(9464),
    PUBLIC_BASE_URL: httpUrl().optional(),
    CONTROL_PLANE_IPS: cidrList().default(["127.0.0.1/32"]),
    PROVISION_LOCATIONS: hcloudNameList().default(["nbg1", "fsn1", "hel1"]),
    SERVER_TYPE: hcloudName().default("cx23"),
    SERVER_IMAGE: hcloudName().default("ubuntu-24.04"),
    SSH_PORT: port().default(22),
    CLOUD_INIT_TIMEOUT_MS: integer(1, MAX_MS).default(600_000),
    VERIFY_SETTLE_MS: integer(0, MAX_MS).default(10_000),
    APP_REPO_URL: repoUrl().default("https://github.com/polly3223/Rachel8.git"),
    EXPECTED_SERVER_DELETION_MS: integer(0, MAX_MS).default(5_000),
    RECONCILE_INTERVAL_MS: integer(1000, MAX_MS).default(300_000),
    RECONCILE_ZOMBIE_GRACE_MS: integer(0, MAX_MS).default(600_000),
    RECONCILE_STUCK_AFTER_MS: integer(1000, MAX_MS).default(900_000),
    REPROVISION_LOST: booleanFlag().default(false),
    CRASH_AT: z
      .string()
      .regex(/^[a-z0-9-]+(\.[a-z0-9-]+)+$/, "must name a crash point, e.g. provision.create-server.ran")
      .optional(),
  })
  .superRefine((env, ctx) => {
    if (env.SECRETS_OLD_KEYS.some(([id]) => id === env.SECRETS_KEY_ID)) {
      ctx.addIssue({ code: "custom", path: ["SECRETS_OLD_KEYS"], message: "must not repeat SECRETS_KEY_ID" });
    }
    // A fault hook that kills processes has no place next to real servers and real money.
    if (env.CRASH_AT !== undefined && new URL(env.HCLOUD_ENDPOINT).hostname === REAL_HETZNER_HOST) {
      ctx.addIssue({
        code: "custom",
        path: ["CRASH_AT"],
        message: "is a test fault hook; refused while HCLOUD_ENDPOINT is the real Hetzner API",
      });
    }
    // A renewal interval at or above the lifetime lets the lock or lease lapse between renewals.
    if (env.HEARTBEAT_MS >= Math.min(env.JOB_LOCK_MS, env.LEASE_TTL_MS)) {
      ctx.addIssue({
        code: "custom",
        path: ["HEARTBEAT_MS"],
        message: "must be less than JOB_LOCK_MS and LEASE_TTL_MS",
      });
    }
  });

type Env = z.output<typeof envSchema>;

function toConfig(env: Env): Config {
  return {
    dataDir: env.DATA_DIR,
    apiHost: env.API_HOST,
    apiPort: env.API_PORT,
    serviceToken: env.SERVICE_TOKEN,
    opsToken: env.OPS_TOKEN,
    standardWebhookSecret: env.STANDARD_WEBHOOK_SECRET,
    stripeWebhookSecret: env.STRIPE_WEBHOOK_SECRET,
    brokerHost: env.BROKER_HOST,
    brokerPort: env.BROKER_PORT,
    brokerHttpPort: env.BROKER_HTTP_PORT,
    brokerToken: env.BROKER_TOKEN,
    secretsKeys: {
      currentId: env.SECRETS_KEY_ID,
      keys: new Map([[env.SECRETS_KEY_ID, env.SECRETS_KEY], ...env.SECRETS_OLD_KEYS]),
    },
    logLevel: env.LOG_LEVEL,
    logPretty: env.LOG_PRETTY,
    hcloudToken: env.HCLOUD_TOKEN,
    hcloudEndpoint: env.HCLOUD_ENDPOINT,
    workerConcurrency: env.WORKER_CONCURRENCY,
    shutdownTimeoutMs: env.SHUTDOWN_TIMEOUT_MS,
    jobLockMs: env.JOB_LOCK_MS,
    leaseTtlMs: env.LEASE_TTL_MS,
    heartbeatMs: env.HEARTBEAT_MS,
    workerMetricsPort: env.WORKER_METRICS_PORT,
    publicBaseUrl: env.PUBLIC_BASE_URL ?? httpOrigin(env.API_HOST, env.API_PORT),
    controlPlaneIps: env.CONTROL_PLANE_IPS,
    provisionLocations: env.PROVISION_LOCATIONS,
    serverType: env.SERVER_TYPE,
    serverImage: env.SERVER_IMAGE,
    sshPort: env.SSH_PORT,
    cloudInitTimeoutMs: env.CLOUD_INIT_TIMEOUT_MS,
    verifySettleMs: env.VERIFY_SETTLE_MS,
    appRepoUrl: env.APP_REPO_URL,
    expectedServerDeletionMs: env.EXPECTED_SERVER_DELETION_MS,
    reconcileIntervalMs: env.RECONCILE_INTERVAL_MS,
    reconcileZombieGraceMs: env.RECONCILE_ZOMBIE_GRACE_MS,
    reconcileStuckAfterMs: env.RECONCILE_STUCK_AFTER_MS,
    reprovisionLost: env.REPROVISION_LOST,
    crashAt: env.CRASH_AT,
  };
}

/** Every variable the schema reads, in schema order (their `_FILE` variants are in SECRET_VARIABLES). */
export const CONFIG_VARIABLES: readonly string[] = Object.keys(envSchema.shape);

/** Variables that hold secrets; each may instead be given as `<NAME>_FILE`, a path to read it from. */
export const SECRET_VARIABLES = [
  "BROKER_TOKEN",
  "SECRETS_KEY",
  "SECRETS_OLD_KEYS",
  "HCLOUD_TOKEN",
  "SERVICE_TOKEN",
  "OPS_TOKEN",
  "STANDARD_WEBHOOK_SECRET",
  "STRIPE_WEBHOOK_SECRET",
] as const;

/** Every problem found in the environment, one `NAME: what is wrong` line each. */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
  constructor(readonly problems: readonly string[]) {
    super(problems.join("\n"));
  }
}

/**
 * Parses the environment into a frozen Config. Empty values count as unset.
 * Throws ConfigError naming every missing or invalid variable at once.
 */
export function loadConfig(env: Readonly<Record<string, string | undefined>>): Config {
  const input: Record<string, string | undefined> = {};
  for (const name of CONFIG_VARIABLES) input[name] = env[name] === "" ? undefined : env[name];
  const files = readSecretFiles(env, SECRET_VARIABLES);
  Object.assign(input, files.values);

  const parsed = envSchema.safeParse(input);
  // A variable whose _FILE failed is already reported; "required" on top would mislead.
  const schemaProblems = parsed.success
    ? []
    : parsed.error.issues
        .filter((issue) => !files.failed.includes(String(issue.path[0])))
        .map((issue) => `${issue.path.join(".")}: ${issue.message}`);
  const problems = [...files.problems, ...schemaProblems];
  if (!parsed.success || problems.length > 0) throw new ConfigError(problems);
  return deepFreeze(toConfig(parsed.data));
}

/** loadConfig for process entry points: on failure writes `config error: …` lines to stderr and exits 1. */
export function loadConfigOrExit(env: Readonly<Record<string, string | undefined>>): Config {
  try {
    return loadConfig(env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    // Synchronous write: process.exit would drop a pending asynchronous one.
    writeSync(2, err.problems.map((problem) => `config error: ${problem}\n`).join(""));
    process.exit(1);
  }
}

/** Fresh random values for local development (`bun run dev`, demos); never for production. */
export function generateDevSecrets(): {
  BROKER_TOKEN: string;
  SECRETS_KEY: string;
  SERVICE_TOKEN: string;
  OPS_TOKEN: string;
} {
  return {
    BROKER_TOKEN: randomBytes(32).toString("base64url"),
    SECRETS_KEY: randomBytes(32).toString("base64"),
    SERVICE_TOKEN: randomBytes(32).toString("base64url"),
    OPS_TOKEN: randomBytes(32).toString("base64url"),
  };
}
