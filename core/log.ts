/**
 * The service logger: pino JSON lines, with every secret-bearing field censored by path before a line
 * is written, so a token passed in a log object (even nested, in an error or in headers) never leaves.
 */
import pino from "pino";
import type PinoPretty from "pino-pretty";
import type { LogLevel } from "./config-fields.ts";

export type Logger = pino.Logger;

/** What replaces a secret's value in a log line. */
export const REDACTED = "[redacted]";

/** Field names whose values are secrets wherever they appear (top level, one or two levels deep). */
export const SECRET_FIELD_NAMES = [
  "token",
  "accessToken",
  "refreshToken",
  "brokerToken",
  "hcloudToken",
  "telegramBotToken",
  "apiKey",
  "privateKey",
  "secret",
  "secrets",
  "secretsKey",
  "password",
  "passphrase",
  "root_password",
  "authorization",
  "cookie",
  "set-cookie",
  "x-api-key",
  "callbackToken",
  "webhookSecret",
  "clientSecret",
  "sshPrivateKey",
  "serviceToken",
  "opsToken",
  "standardWebhookSecret",
  "stripeWebhookSecret",
  // The environment's own names, for when an env object is logged.
  "BROKER_TOKEN",
  "HCLOUD_TOKEN",
  "SECRETS_KEY",
  "SECRETS_OLD_KEYS",
  "SERVICE_TOKEN",
  "OPS_TOKEN",
  "STANDARD_WEBHOOK_SECRET",
  "STRIPE_WEBHOOK_SECRET",
] as const;

/** Header names whose values are secrets, also caught under `headers` nested two levels deep. */
const SECRET_HEADER_NAMES = ["authorization", "cookie", "set-cookie", "x-api-key"] as const;

/** Builds the redact paths; pino matches only explicit paths and `*` wildcards, so each depth is listed. */
export function secretRedactPaths(): string[] {
  const paths: string[] = [];
  for (const name of SECRET_FIELD_NAMES) {
    paths.push(topLevel(name), `*${member(name)}`, `*.*${member(name)}`);
  }
  for (const name of SECRET_HEADER_NAMES) paths.push(`*.*.headers${member(name)}`);
  return paths;
}

const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;
const member = (name: string): string => (IDENTIFIER.test(name) ? `.${name}` : `["${name}"]`);
const topLevel = (name: string): string => (IDENTIFIER.test(name) ? name : `["${name}"]`);

export interface LoggerOptions {
  /** Minimum level written. Default "info". */
  level?: LogLevel;
  /** Human-readable output through pino-pretty instead of JSON lines. Default false. */
  pretty?: boolean;
  /** Process or component name, written as `name` on every line. Default none. */
  name?: string;
  /** Where lines go. Default stdout, written synchronously so an exit loses nothing. */
  destination?: pino.DestinationStream;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const settings: pino.LoggerOptions = {
    level: options.level ?? "info",
    redact: { paths: secretRedactPaths(), censor: REDACTED },
    timestamp: pino.stdTimeFunctions.isoTime,
    ...(options.name === undefined ? {} : { name: options.name }),
  };
  const destination = options.destination ?? pino.destination(1);
  return pino(settings, options.pretty ? prettyStream(destination) : destination);
}

/**
 * pino-pretty as an in-process stream: pino's worker-thread transports fail under Bun 1.4
 * (DataCloneError, then a 10 s hang at exit). Required lazily because it is a dev dependency.
 */
function prettyStream(destination: pino.DestinationStream): pino.DestinationStream {
  const pretty = require("pino-pretty") as typeof PinoPretty;
  return pretty({ destination, sync: true, translateTime: "SYS:HH:MM:ss.l" });
}
