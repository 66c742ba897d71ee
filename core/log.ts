/**
 * The service logger: pino JSON lines, with every secret-bearing field censored by name before a line
 * is written, so a token passed in a log object (even nested, in an error or in headers) never leaves.
 */
import pino from "pino";
import type PinoPretty from "pino-pretty";
import { type LogLevel, SECRET_VARIABLES } from "./config-fields.ts";

export type Logger = pino.Logger;

/** What replaces a secret's value in a log line. */
export const REDACTED = "[redacted]";

/** Field names whose values are secrets wherever they appear (top level and up to three levels deep). */
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
  "secretAccessKey",
  // The environment's own names, for when an env object is logged.
  ...SECRET_VARIABLES,
] as const;

const SECRET_KEYS: ReadonlySet<string> = new Set(SECRET_FIELD_NAMES);
/** How deep logged objects are searched: keys at the top level and up to three levels down (headers in a request in an error). */
const MAX_DEPTH = 3;

/**
 * A copy of `value` with every secret-named key censored, down to MAX_DEPTH; untouched parts are shared, not
 * copied. Errors are serialized first so their own fields are searched too. One walk per line: pino's
 * path-based redact re-walked each line once per path (about 150 of them), some 100 µs a line.
 */
function censor(value: unknown, depth: number): unknown {
  if (value === null || typeof value !== "object" || depth > MAX_DEPTH) return value;
  const source: object = value instanceof Error ? pino.stdSerializers.err(value) : value;
  if (Array.isArray(source)) {
    const items = source.map((item) => censor(item, depth + 1));
    return items.some((item, index) => item !== source[index]) ? items : source;
  }
  let copy: Record<string, unknown> | undefined;
  for (const [key, inner] of Object.entries(source)) {
    const replaced = SECRET_KEYS.has(key) ? REDACTED : censor(inner, depth + 1);
    if (replaced === inner) continue;
    copy ??= { ...source };
    copy[key] = replaced;
  }
  return copy ?? source;
}

const censorLine = (object: Record<string, unknown>) => censor(object, 0) as Record<string, unknown>;

export interface LoggerOptions {
  /** Minimum level written. Default "info". */
  level?: LogLevel;
  /** Human-readable output through pino-pretty instead of JSON lines. Default false. */
  pretty?: boolean;
  /** Process or component name, written as `name` on every line. Default none. */
  name?: string;
  /**
   * Where lines go. Default stdout through pino.destination: sonic-boom writing asynchronously, so a line
   * costs the request no write call; pino flushes what is buffered on exit, and exit.ts lets the loop drain.
   */
  destination?: pino.DestinationStream;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const settings: pino.LoggerOptions = {
    level: options.level ?? "info",
    formatters: { log: censorLine },
    timestamp: pino.stdTimeFunctions.isoTime,
    ...(options.name === undefined ? {} : { name: options.name }),
  };
  const destination = options.destination ?? pino.destination(1);
  return censorChildBindings(pino(settings, options.pretty ? prettyStream(destination) : destination));
}

/**
 * Fields given to child() are written on every line of the child, but pino's formatters see them only at
 * the root. Every child (at any depth: each inherits this from the root) gets them censored first.
 */
function censorChildBindings(root: Logger): Logger {
  const child = Object.getPrototypeOf(root).child as Logger["child"];
  root.child = function censoredChild(this: Logger, bindings, options) {
    return child.call(this, censorLine(bindings), options);
  } as Logger["child"];
  return root;
}

/**
 * pino-pretty as an in-process stream: pino's worker-thread transports fail under Bun 1.4
 * (DataCloneError, then a 10 s hang at exit). Required lazily because it is a dev dependency.
 */
function prettyStream(destination: pino.DestinationStream): pino.DestinationStream {
  const pretty = require("pino-pretty") as typeof PinoPretty;
  return pretty({ destination, sync: true, translateTime: "SYS:HH:MM:ss.l" });
}
