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
  gitRef,
  hcloudName,
  hcloudNameList,
  host,
  httpOrigin,
  httpUrl,
  integer,
  isHttpsOrLoopback,
  keyId,
  type LogLevel,
  labelList,
  logLevel,
  oldKeys,
  packageVersion,
  port,
  repoUrl,
  SECRET_VARIABLES,
  s3Bucket,
  s3Prefix,
  serverImage,
  text,
  webhookSecret,
} from "./config-fields.ts";
import { deepFreeze } from "./deep-freeze.ts";
import {
  DEFAULT_PROJECT,
  type HcloudProject,
  type HcloudProjects,
  parseHcloudProjects,
} from "./hcloud-projects.ts";
import { readSecretFiles } from "./secret-files.ts";

export { LOG_LEVELS, type LogLevel } from "./config-fields.ts";
export { DEFAULT_PROJECT, type HcloudProject, type HcloudProjects } from "./hcloud-projects.ts";

/** Host of Hetzner's real API: fault hooks are refused against it. */
const REAL_HETZNER_HOST = "api.hetzner.cloud";

/** Longest duration setting accepted: one day, in milliseconds. */
const MAX_MS = 86_400_000;

export interface Config {
  /** Directory for the broker's and the application's SQLite files. DATA_DIR, default "./data". */
  readonly dataDir: string;
  /** Interface of the private listener (customers, ops, metrics, health). API_HOST, default "127.0.0.1". */
  readonly apiHost: string;
  /** TCP port of the private listener. API_PORT, default 8080. */
  readonly apiPort: number;
  /**
   * Interface of the public listener (payment webhooks, cloud-init callbacks, bundle downloads), which a TLS
   * proxy in front of it exposes. PUBLIC_API_HOST, default "127.0.0.1".
   */
  readonly publicApiHost: string;
  /** TCP port of the public listener. PUBLIC_API_PORT, default 8081. */
  readonly publicApiPort: number;
  /**
   * Proxies whose forwarded header names a public request's client (CIDR blocks; bare IPs get /32 or
   * /128); a request from any other peer is taken as the client itself. TRUSTED_PROXIES, default none.
   */
  readonly trustedProxies: readonly string[];
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
  /**
   * The Hetzner projects servers are created in, each with its token, server limit, locations and server
   * types (core/hcloud-projects.ts). HCLOUD_PROJECTS or HCLOUD_PROJECTS_FILE, a JSON array, secret; unset,
   * the one project "default" of HCLOUD_TOKEN (or HCLOUD_TOKEN_FILE), HCLOUD_SERVER_LIMIT, PROVISION_LOCATIONS,
   * SERVER_TYPE and SERVER_TYPE_FALLBACKS.
   */
  readonly hcloudProjects: HcloudProjects;
  /** Hetzner Cloud API base URL, no trailing slash. HCLOUD_ENDPOINT, default "https://api.hetzner.cloud/v1". */
  readonly hcloudEndpoint: string;
  /**
   * Labels added to every server, SSH key and firewall the provisioner creates, besides its own ownership
   * labels; `bun run smoke` scopes what it made with one. HCLOUD_LABELS, comma list of key=value; default none.
   */
  readonly hcloudLabels: Readonly<Record<string, string>>;
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
  /**
   * Base URL servers reach the public listener at (cloud-init callbacks), no trailing slash. https unless
   * its host is loopback or PUBLIC_BASE_URL_ALLOW_HTTP is set. PUBLIC_BASE_URL, default
   * `http://<PUBLIC_API_HOST>:<PUBLIC_API_PORT>`.
   */
  readonly publicBaseUrl: string;
  /** CIDR blocks allowed to SSH into customer servers (bare IPs get /32 or /128). CONTROL_PLANE_IPS, default ["127.0.0.1/32"]. */
  readonly controlPlaneIps: readonly string[];
  /** Cap on servers across all projects (a cost bound). MAX_SERVERS, default null (none). */
  readonly maxServers: number | null;
  /** Longest a paid customer's provision waits for capacity, in ms. CAPACITY_WAIT_TIMEOUT_MS, default 2592000000 (30 days). */
  readonly capacityWaitTimeoutMs: number;
  /**
   * Hetzner locations to create servers in, preferred first; the default of every project that names none.
   * PROVISION_LOCATIONS, default ["nbg1", "fsn1", "hel1"].
   */
  readonly provisionLocations: readonly string[];
  /**
   * Hetzner server type of customer servers; the preferred type of every project that names none.
   * SERVER_TYPE, default "cx23".
   */
  readonly serverType: string;
  /** Hetzner image of customer servers, one of SERVER_IMAGES. SERVER_IMAGE, default "ubuntu-24.04". */
  readonly serverImage: string;
  /** Port customer servers' sshd listens on. SSH_PORT, default 22. */
  readonly sshPort: number;
  /** Deadline for a new server's cloud-init callback, in ms. CLOUD_INIT_TIMEOUT_MS, default 600000. */
  readonly cloudInitTimeoutMs: number;
  /** How long the app must stay active after start to count as verified, in ms. VERIFY_SETTLE_MS, default 10000. */
  readonly verifySettleMs: number;
  /** Git repository of the deployed app. APP_REPO_URL, default "https://github.com/polly3223/Rachel8.git". */
  readonly appRepoUrl: string;
  /** Branch, tag or commit id of the app a bundle is built from (`bun run bundle`). APP_REF, default "main". */
  readonly appRef: string;
  /** Bun release a bundle carries, from the registry's `@oven/bun-linux-*` packages. BUN_VERSION, default "1.4.5". */
  readonly bunVersion: string;
  /**
   * Claude Code release a bundle carries, from the registry's `@anthropic-ai/claude-code-linux-*` packages.
   * CLAUDE_CODE_VERSION, default "2.1.337".
   */
  readonly claudeCodeVersion: string;
  /** npm registry the bundle's Bun and Claude Code packages come from. NPM_REGISTRY_URL, default "https://registry.npmjs.org". */
  readonly npmRegistryUrl: string;
  /** Bundles kept per architecture besides the current one and those instances run. BUNDLE_KEEP, default 5. */
  readonly bundleKeep: number;
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
  /** Where `bun run backup` keeps snapshots, and how many. */
  readonly backup: BackupConfig;
  /**
   * Test fault hook: the process SIGKILLs itself on reaching this crash point (core/crash-point.ts).
   * CRASH_AT, default unset; refused while HCLOUD_ENDPOINT is the real Hetzner API.
   */
  readonly crashAt: string | undefined;
}

export interface BackupConfig {
  /** Directory of the local snapshots, outside DATA_DIR. BACKUP_DIR, default "./backups". */
  readonly dir: string;
  /** Local snapshots kept; older ones are deleted after each backup. BACKUP_KEEP, default 48. */
  readonly keep: number;
  /** Off-box copy in S3-compatible storage; null while BACKUP_S3_* is unset (`ops status` warns). */
  readonly s3: BackupS3Config | null;
}

export interface BackupS3Config {
  /** BACKUP_S3_ENDPOINT, e.g. "https://fsn1.your-objectstorage.com". */
  readonly endpoint: string;
  /** BACKUP_S3_BUCKET. */
  readonly bucket: string;
  /** BACKUP_S3_REGION, default "us-east-1" (what most S3-compatible stores accept). */
  readonly region: string;
  /** Key prefix inside the bucket, ending in "/". BACKUP_S3_PREFIX, default "rachel-provisioner/". */
  readonly prefix: string;
  /** BACKUP_S3_ACCESS_KEY_ID. */
  readonly accessKeyId: string;
  /** BACKUP_S3_SECRET_ACCESS_KEY or BACKUP_S3_SECRET_ACCESS_KEY_FILE, secret. */
  readonly secretAccessKey: string;
}

/** The BACKUP_S3_* variables that must be set together (the others have defaults). */
const BACKUP_S3_REQUIRED = [
  "BACKUP_S3_ENDPOINT",
  "BACKUP_S3_BUCKET",
  "BACKUP_S3_ACCESS_KEY_ID",
  "BACKUP_S3_SECRET_ACCESS_KEY",
] as const;

const envSchema = z
  .object({
    DATA_DIR: text().default("./data"),
    API_HOST: host().default("127.0.0.1"),
    API_PORT: port().default(8080),
    PUBLIC_API_HOST: host().default("127.0.0.1"),
    PUBLIC_API_PORT: port().default(8081),
    TRUSTED_PROXIES: cidrList().default([]),
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
    HCLOUD_TOKEN: text().optional(),
    HCLOUD_PROJECTS: text().optional(),
    HCLOUD_ENDPOINT: httpUrl().default("https://api.hetzner.cloud/v1"),
    HCLOUD_LABELS: labelList().default({}),
    WORKER_CONCURRENCY: integer(1, 1000).default(64),
    SHUTDOWN_TIMEOUT_MS: integer(1, MAX_MS).default(20_000),
    JOB_LOCK_MS: integer(1, MAX_MS).default(30_000),
    LEASE_TTL_MS: integer(1, MAX_MS).default(30_000),
    HEARTBEAT_MS: integer(1, MAX_MS).default(5_000),
    WORKER_METRICS_PORT: integer(0, 65535).default(9464),
    PUBLIC_BASE_URL: httpUrl().optional(),
    PUBLIC_BASE_URL_ALLOW_HTTP: booleanFlag().default(false),
    CONTROL_PLANE_IPS: cidrList().default(["127.0.0.1/32"]),
    HCLOUD_SERVER_LIMIT: integer(0, 100_000).optional(),
    MAX_SERVERS: integer(0, 1_000_000).optional(),
    CAPACITY_WAIT_TIMEOUT_MS: integer(1, 31_536_000_000).default(2_592_000_000),
    PROVISION_LOCATIONS: hcloudNameList().default(["nbg1", "fsn1", "hel1"]),
    SERVER_TYPE: hcloudName().default("cx23"),
    SERVER_TYPE_FALLBACKS: hcloudNameList().default([]),
    SERVER_TYPE_FALLBACK_ANY_ARCH: booleanFlag().default(false),
    SERVER_IMAGE: serverImage().default("ubuntu-24.04"),
    SSH_PORT: port().default(22),
    CLOUD_INIT_TIMEOUT_MS: integer(1, MAX_MS).default(600_000),
    VERIFY_SETTLE_MS: integer(0, MAX_MS).default(10_000),
    APP_REPO_URL: repoUrl().default("https://github.com/polly3223/Rachel8.git"),
    APP_REF: gitRef().default("main"),
    BUN_VERSION: packageVersion().default("1.4.5"),
    CLAUDE_CODE_VERSION: packageVersion().default("2.1.337"),
    NPM_REGISTRY_URL: httpUrl().default("https://registry.npmjs.org"),
    BUNDLE_KEEP: integer(1, 1000).default(5),
    EXPECTED_SERVER_DELETION_MS: integer(0, MAX_MS).default(5_000),
    RECONCILE_INTERVAL_MS: integer(1000, MAX_MS).default(300_000),
    RECONCILE_ZOMBIE_GRACE_MS: integer(0, MAX_MS).default(600_000),
    RECONCILE_STUCK_AFTER_MS: integer(1000, MAX_MS).default(900_000),
    REPROVISION_LOST: booleanFlag().default(false),
    BACKUP_DIR: text().default("./backups"),
    BACKUP_KEEP: integer(1, 10_000).default(48),
    BACKUP_S3_ENDPOINT: httpUrl().optional(),
    BACKUP_S3_BUCKET: s3Bucket().optional(),
    BACKUP_S3_REGION: hcloudName().default("us-east-1"),
    BACKUP_S3_PREFIX: s3Prefix().default("rachel-provisioner/"),
    BACKUP_S3_ACCESS_KEY_ID: text().optional(),
    BACKUP_S3_SECRET_ACCESS_KEY: text().optional(),
    CRASH_AT: z
      .string()
      .regex(/^[a-z0-9-]+(\.[a-z0-9-]+)+$/, "must name a crash point, e.g. provision.create-server.ran")
      .optional(),
  })
  .superRefine((env, ctx) => {
    if (env.API_PORT === env.PUBLIC_API_PORT && env.API_HOST === env.PUBLIC_API_HOST) {
      ctx.addIssue({ code: "custom", path: ["PUBLIC_API_PORT"], message: "must differ from API_PORT" });
    }
    // phone_home carries the callback token and the host key SSH pins: plain HTTP lets an on-path attacker swap it.
    const baseUrl = env.PUBLIC_BASE_URL ?? httpOrigin(env.PUBLIC_API_HOST, env.PUBLIC_API_PORT);
    if (!env.PUBLIC_BASE_URL_ALLOW_HTTP && !isHttpsOrLoopback(baseUrl)) {
      ctx.addIssue({
        code: "custom",
        path: ["PUBLIC_BASE_URL"],
        message: "must be https (or set PUBLIC_BASE_URL_ALLOW_HTTP=true to accept plain http)",
      });
    }
    for (const name of ["HCLOUD_TOKEN", "HCLOUD_SERVER_LIMIT"] as const) {
      if (env.HCLOUD_PROJECTS !== undefined && env[name] !== undefined) {
        ctx.addIssue({ code: "custom", path: [name], message: "must be unset when HCLOUD_PROJECTS is set" });
      }
    }
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
    // Half an off-box target would fail at the first backup, hours later: name what is missing now.
    const s3Set = BACKUP_S3_REQUIRED.filter((name) => env[name] !== undefined);
    if (s3Set.length > 0) {
      for (const name of BACKUP_S3_REQUIRED.filter((n) => env[n] === undefined)) {
        ctx.addIssue({ code: "custom", path: [name], message: `required when ${s3Set[0]} is set` });
      }
    }
  });

type Env = z.output<typeof envSchema>;

/** Every project from HCLOUD_PROJECTS, or the default one; a problem each for what is wrong in the list. */
function hcloudProjectsOf(env: Env): { projects: HcloudProject[]; problems: string[] } {
  const defaults = {
    locations: env.PROVISION_LOCATIONS,
    serverTypes: [env.SERVER_TYPE, ...env.SERVER_TYPE_FALLBACKS],
    anyArchitecture: env.SERVER_TYPE_FALLBACK_ANY_ARCH,
  };
  if (env.HCLOUD_PROJECTS !== undefined) return parseHcloudProjects(env.HCLOUD_PROJECTS, defaults);
  const only = {
    ...defaults,
    serverTypes: [...new Set(defaults.serverTypes)],
    name: DEFAULT_PROJECT,
    token: env.HCLOUD_TOKEN ?? "",
    serverLimit: env.HCLOUD_SERVER_LIMIT ?? null,
  };
  return { projects: [only], problems: [] };
}

function toConfig(env: Env, hcloudProjects: HcloudProjects): Config {
  return {
    dataDir: env.DATA_DIR,
    apiHost: env.API_HOST,
    apiPort: env.API_PORT,
    publicApiHost: env.PUBLIC_API_HOST,
    publicApiPort: env.PUBLIC_API_PORT,
    trustedProxies: env.TRUSTED_PROXIES,
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
    hcloudProjects,
    hcloudEndpoint: env.HCLOUD_ENDPOINT,
    hcloudLabels: env.HCLOUD_LABELS,
    workerConcurrency: env.WORKER_CONCURRENCY,
    shutdownTimeoutMs: env.SHUTDOWN_TIMEOUT_MS,
    jobLockMs: env.JOB_LOCK_MS,
    leaseTtlMs: env.LEASE_TTL_MS,
    heartbeatMs: env.HEARTBEAT_MS,
    workerMetricsPort: env.WORKER_METRICS_PORT,
    publicBaseUrl: env.PUBLIC_BASE_URL ?? httpOrigin(env.PUBLIC_API_HOST, env.PUBLIC_API_PORT),
    controlPlaneIps: env.CONTROL_PLANE_IPS,
    maxServers: env.MAX_SERVERS ?? null,
    capacityWaitTimeoutMs: env.CAPACITY_WAIT_TIMEOUT_MS,
    provisionLocations: env.PROVISION_LOCATIONS,
    serverType: env.SERVER_TYPE,
    serverImage: env.SERVER_IMAGE,
    sshPort: env.SSH_PORT,
    cloudInitTimeoutMs: env.CLOUD_INIT_TIMEOUT_MS,
    verifySettleMs: env.VERIFY_SETTLE_MS,
    appRepoUrl: env.APP_REPO_URL,
    appRef: env.APP_REF,
    bunVersion: env.BUN_VERSION,
    claudeCodeVersion: env.CLAUDE_CODE_VERSION,
    npmRegistryUrl: env.NPM_REGISTRY_URL,
    bundleKeep: env.BUNDLE_KEEP,
    expectedServerDeletionMs: env.EXPECTED_SERVER_DELETION_MS,
    reconcileIntervalMs: env.RECONCILE_INTERVAL_MS,
    reconcileZombieGraceMs: env.RECONCILE_ZOMBIE_GRACE_MS,
    reconcileStuckAfterMs: env.RECONCILE_STUCK_AFTER_MS,
    reprovisionLost: env.REPROVISION_LOST,
    crashAt: env.CRASH_AT,
    backup: { dir: env.BACKUP_DIR, keep: env.BACKUP_KEEP, s3: backupS3(env) },
  };
}

function backupS3(env: Env): BackupS3Config | null {
  const { BACKUP_S3_ENDPOINT, BACKUP_S3_BUCKET, BACKUP_S3_ACCESS_KEY_ID, BACKUP_S3_SECRET_ACCESS_KEY } = env;
  if (!BACKUP_S3_ENDPOINT || !BACKUP_S3_BUCKET || !BACKUP_S3_ACCESS_KEY_ID || !BACKUP_S3_SECRET_ACCESS_KEY) {
    return null;
  }
  return {
    endpoint: BACKUP_S3_ENDPOINT,
    bucket: BACKUP_S3_BUCKET,
    region: env.BACKUP_S3_REGION,
    prefix: env.BACKUP_S3_PREFIX,
    accessKeyId: BACKUP_S3_ACCESS_KEY_ID,
    secretAccessKey: BACKUP_S3_SECRET_ACCESS_KEY,
  };
}

/** Every variable the schema reads, in schema order (their `_FILE` variants are in SECRET_VARIABLES). */
export const CONFIG_VARIABLES: readonly string[] = Object.keys(envSchema.shape);

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
  // Checked outside the schema so it is named beside other problems (refinements run only on a valid whole).
  const noProject =
    input.HCLOUD_TOKEN === undefined &&
    input.HCLOUD_PROJECTS === undefined &&
    !files.failed.includes("HCLOUD_TOKEN")
      ? ["HCLOUD_TOKEN: required (or HCLOUD_PROJECTS)"]
      : [];
  // A variable whose _FILE failed is already reported; "required" on top would mislead.
  const schemaProblems = parsed.success
    ? []
    : parsed.error.issues
        .filter((issue) => !files.failed.includes(String(issue.path[0])))
        .map((issue) => `${issue.path.join(".")}: ${issue.message}`);
  const projects = parsed.success ? hcloudProjectsOf(parsed.data) : { projects: [], problems: [] };
  const problems = [...files.problems, ...schemaProblems, ...noProject, ...projects.problems];
  const [first, ...more] = projects.projects;
  if (!parsed.success || problems.length > 0 || first === undefined) throw new ConfigError(problems);
  return deepFreeze(toConfig(parsed.data, [first, ...more]));
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

/** The variables generateDevSecrets makes. */
export const DEV_SECRET_NAMES = [
  "BROKER_TOKEN",
  "SECRETS_KEY",
  "SERVICE_TOKEN",
  "OPS_TOKEN",
  "STANDARD_WEBHOOK_SECRET",
  "STRIPE_WEBHOOK_SECRET",
] as const;

/**
 * Fresh random values for local development (`bun run dev`, demos); never for production. The webhook
 * secrets are there so the signed curl recipes of docs/webhooks.md can be tried against a local stack.
 */
export function generateDevSecrets(): Record<(typeof DEV_SECRET_NAMES)[number], string> {
  return {
    BROKER_TOKEN: randomBytes(32).toString("base64url"),
    SECRETS_KEY: randomBytes(32).toString("base64"),
    SERVICE_TOKEN: randomBytes(32).toString("base64url"),
    OPS_TOKEN: randomBytes(32).toString("base64url"),
    STANDARD_WEBHOOK_SECRET: `whsec_${randomBytes(24).toString("base64")}`,
    STRIPE_WEBHOOK_SECRET: `whsec_${randomBytes(24).toString("base64")}`,
  };
}
