/**
 * Facts of the deployed app, Rachel8 (github.com/polly3223/Rachel8): its .env (validated exactly as Rachel8
 * validates it, since it exits 1 on an invalid one), Claude Code's OAuth credentials file, and the systemd
 * unit that runs the current release's `bun run app/src/index.ts` from the app's home directory, where its
 * .env and everything it writes live. Errors name the FIELD, never the value.
 */
import { z } from "zod";
import { PermanentError } from "../jobs/errors.ts";
import { CURRENT_RELEASE } from "../jobs/provision/cloud-init/bundle-boot.ts";

/** The unit's name on the machine. */
export const RACHEL8_UNIT_NAME = "rachel8.service";
/** Scopes Claude Code's subscription login grants; `user:inference` is what running the agent needs. */
export const CLAUDE_OAUTH_SCOPES = ["user:inference", "user:profile"] as const;

/** Rachel8's AI_PROVIDER values ("claude" is its alias of "claudecode"); it falls back to codex without one. */
export const AI_PROVIDERS = ["claudecode", "claude", "codex"] as const;
export type AiProvider = (typeof AI_PROVIDERS)[number];
/** The provider that runs on the Claude OAuth credentials the customer hands over. */
export const CLAUDE_AI_PROVIDER: AiProvider = "claudecode";

/**
 * Where things live on the machine, relative to the login user's home (cloud-init lays these out): all of it
 * outside the release directories, so an upgrade or a rollback never touches what the app wrote.
 */
export const RACHEL8_PATHS = {
  /** The unit's working directory: Bun reads .env from here, and the app's relative paths resolve here. */
  appDir: "rachel8",
  env: "rachel8/.env",
  credentials: ".claude/.credentials.json",
  sharedDir: "shared",
} as const;

/** Rendered files must not be ambiguous to a dotenv parser nor to a unit file: no quoting, no specifiers. */
const SAFE_ABSOLUTE_PATH = /^(?:\/[A-Za-z0-9._-]+)+$/;
const LINUX_USER = /^[a-z_][a-z0-9_-]{0,31}$/;
const OAUTH_TOKEN = /^[\x21-\x7e]+$/;

/** Bad customer input can never succeed, so it is permanent: the runner stops retrying at once. */
export class Rachel8ConfigError extends PermanentError {
  constructor(
    /** The offending field names (e.g. "TELEGRAM_BOT_TOKEN"); values are never included. */
    readonly fields: readonly string[],
    what: string,
  ) {
    super(`invalid ${what}: ${fields.join(", ")}`, { code: "invalid_rachel8_config" });
  }
}

const envSchema = z.object({
  TELEGRAM_BOT_TOKEN: z.string().regex(/^\d{8,}:[A-Za-z0-9_-]{35,}$/),
  OWNER_TELEGRAM_USER_ID: z.union([
    z.number().int().positive().max(Number.MAX_SAFE_INTEGER),
    z.string().regex(/^[1-9]\d{0,15}$/),
  ]),
  // Rachel8 only needs it non-empty; we also keep it unquotable so the rendered line is unambiguous.
  SHARED_FOLDER_PATH: z.string().regex(SAFE_ABSOLUTE_PATH),
  NODE_ENV: z.enum(["development", "production", "test"]),
  LOG_LEVEL: z.enum(["debug", "info", "warn", "error"]),
  // Rachel8 defaults to codex when it is absent: the .env must always name the provider explicitly.
  AI_PROVIDER: z.enum(AI_PROVIDERS),
});

const credentialsSchema = z.object({
  accessToken: z.string().regex(OAUTH_TOKEN),
  refreshToken: z.string().regex(OAUTH_TOKEN),
  // Milliseconds since the epoch: anything below 1e12 (year 2001) is a seconds value by mistake.
  expiresAt: z.number().int().min(1e12).max(Number.MAX_SAFE_INTEGER),
  scopes: z.array(z.string().regex(/^[a-z]+:[a-z_]+$/)).refine((scopes) => scopes.includes("user:inference")),
});

const unitSchema = z.object({
  user: z.string().regex(LINUX_USER),
  home: z.string().regex(SAFE_ABSOLUTE_PATH),
  release: z.string().regex(SAFE_ABSOLUTE_PATH),
});

/** Parses or throws Rachel8ConfigError listing every bad field (zod's issues carry no input values). */
function parseOrThrow<T>(
  schema: z.ZodType<T>,
  input: unknown,
  what: string,
  name: (key: string) => string,
): T {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const fields = [...new Set(result.error.issues.map((issue) => name(String(issue.path[0] ?? "(root)"))))];
  throw new Rachel8ConfigError(fields, what);
}

export interface Rachel8EnvInput {
  telegramBotToken: string;
  /** The owner's Telegram user id: a positive integer (number or decimal string). */
  ownerTelegramUserId: number | string;
  /** Absolute path of the shared folder on the machine, e.g. /home/rachel/shared. */
  sharedFolderPath: string;
  nodeEnv: "development" | "production" | "test";
  logLevel: "debug" | "info" | "warn" | "error";
  /** Which CLI the app runs the AI through; must match the credentials delivered (CLAUDE_AI_PROVIDER). */
  aiProvider: AiProvider;
}

const ENV_NAMES: Record<keyof Rachel8EnvInput, keyof z.infer<typeof envSchema>> = {
  telegramBotToken: "TELEGRAM_BOT_TOKEN",
  ownerTelegramUserId: "OWNER_TELEGRAM_USER_ID",
  sharedFolderPath: "SHARED_FOLDER_PATH",
  nodeEnv: "NODE_ENV",
  logLevel: "LOG_LEVEL",
  aiProvider: "AI_PROVIDER",
};

/** The .env Rachel8 reads from its working directory; throws Rachel8ConfigError naming bad variables. */
export function renderEnv(input: Rachel8EnvInput): string {
  const env = Object.fromEntries(
    Object.entries(ENV_NAMES).map(([key, name]) => [name, input[key as keyof Rachel8EnvInput]]),
  );
  const parsed = parseOrThrow(envSchema, env, "Rachel8 .env", (name) => name);
  const lines = Object.entries(parsed).map(([name, value]) => `${name}=${value}`);
  return `# Written by rachel-provisioner; replaced on every injection.\n${lines.join("\n")}\n`;
}

export interface ClaudeCredentialsInput {
  accessToken: string;
  refreshToken: string;
  /** When the access token expires, in ms since the epoch. */
  expiresAt: number;
  /** Granted scopes; must include "user:inference" (see CLAUDE_OAUTH_SCOPES). */
  scopes: readonly string[];
}

/** `~/.claude/.credentials.json` as Claude Code reads it; throws Rachel8ConfigError naming bad fields. */
export function renderCredentials(input: ClaudeCredentialsInput): string {
  const oauth = parseOrThrow(credentialsSchema, input, "Claude credentials", (key) => `claudeAiOauth.${key}`);
  return `${JSON.stringify({ claudeAiOauth: oauth }, null, 2)}\n`;
}

export interface Rachel8UnitInput {
  /** Login user that owns the checkout and runs the bot, e.g. "rachel". */
  user: string;
  /** That user's home, absolute, e.g. "/home/rachel". */
  home: string;
  /** The release the unit runs (bin/bun, app/), through a link that upgrades switch; default CURRENT_RELEASE. */
  release?: string;
}

/**
 * The systemd unit (systemd 252+, so no RestartSteps=). ConditionPathExists= keeps it from starting before
 * the .env exists (Rachel8 exits 0 without one, which Restart=on-failure would not retry).
 */
export function rachel8Unit(input: Rachel8UnitInput): string {
  const { user, home, release } = parseOrThrow(
    unitSchema,
    { release: CURRENT_RELEASE, ...input },
    "Rachel8 unit",
    (key) => key,
  );
  return `[Unit]
Description=Rachel8 personal AI assistant (Telegram bot)
Documentation=https://github.com/polly3223/Rachel8
After=network-online.target
Wants=network-online.target
ConditionPathExists=${home}/${RACHEL8_PATHS.env}
StartLimitIntervalSec=300
StartLimitBurst=5

[Service]
Type=simple
User=${user}
WorkingDirectory=${home}/${RACHEL8_PATHS.appDir}
ExecStart=${release}/bin/bun run ${release}/app/src/index.ts
Restart=on-failure
RestartSec=5s
TimeoutStopSec=15s
KillMode=mixed
LimitNOFILE=65536
TasksMax=4096
# cx23 has 4 GB; Rachel8 needs ~1.6 GB. Leave room for sshd so a runaway bot stays reachable.
MemoryMax=3G
SyslogIdentifier=rachel8

[Install]
WantedBy=multi-user.target
`;
}
