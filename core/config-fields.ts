/**
 * Zod field parsers for environment variables. Every failure carries one fixed message that never
 * includes the variable's value, because some variables are secrets.
 */
import { createSecretKey, type KeyObject } from "node:crypto";
import { isIP } from "node:net";
import { z } from "zod";
import { KEY_BYTES, KEY_ID_PATTERN } from "./secrets.ts";

export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

const KEY_MESSAGE = `must be base64 of exactly ${KEY_BYTES} bytes`;
const KEY_ID_MESSAGE = "must be 1-64 letters, digits, '_' or '-'";
const BASE64 = /^[A-Za-z0-9+/_-]+={0,2}$/;

/** Free text; when absent (or empty) and given no default, it reads as "required". */
export const text = () => z.string({ error: "required" });

/** A host name or IP address to bind or connect to. */
export const host = () => z.string().regex(/^[^\s/]+$/, { error: "must be a hostname or IP address" });

/** A decimal integer within [min, max]; the message states the range. */
export function integer(min: number, max: number) {
  const message = `must be an integer ${min}-${max}`;
  return z.string().transform((raw, ctx) => {
    const value = /^\d+$/.test(raw) ? Number(raw) : Number.NaN;
    if (value >= min && value <= max) return value;
    ctx.issues.push({ code: "custom", message, input: raw });
    return z.NEVER;
  });
}

export const port = () => integer(1, 65535);

/** `http://host:port` for a bound host and port; an IPv6 literal gets the brackets a URL needs. */
export function httpOrigin(host: string, port: number): string {
  return `http://${host.includes(":") ? `[${host}]` : host}:${port}`;
}

/** A bearer token another service or an operator presents: long enough that guessing is hopeless. */
export const bearerToken = () => text().min(32, { error: "must be at least 32 characters" });

/** A webhook signing secret as the provider shows it: `whsec_` then its base64 key. */
export const webhookSecret = () =>
  text().regex(/^whsec_[A-Za-z0-9+/=]{16,}$/, {
    error: "must be whsec_ followed by the provider's base64 secret",
  });

export const booleanFlag = () =>
  z
    .enum(["true", "false", "1", "0"], { error: "must be true or false" })
    .transform((v) => v === "true" || v === "1");

export const logLevel = () => z.enum(LOG_LEVELS, { error: `must be one of ${LOG_LEVELS.join(", ")}` });

/**
 * An http(s) base URL without credentials or query (they would end up in logs and error messages);
 * a trailing slash is dropped so callers can append "/path".
 */
export const httpUrl = () =>
  z
    .string()
    .refine(isPlainHttpUrl, { error: "must be an http(s) URL without credentials or query" })
    .transform((raw) => raw.replace(/\/+$/, ""));

function isPlainHttpUrl(raw: string): boolean {
  const url = URL.parse(raw);
  return url !== null && /^https?:$/.test(url.protocol) && !url.username && !url.password && !url.search;
}

/** True for an https URL, or an http one whose host is a loopback address (nothing on the path to trust). */
export function isHttpsOrLoopback(raw: string): boolean {
  const url = URL.parse(raw);
  if (url === null || url.protocol === "https:") return url !== null;
  return isLoopbackUrl(raw);
}

/** True when the URL's host is loopback: localhost, ::1 or 127.0.0.0/8. */
export function isLoopbackUrl(raw: string): boolean {
  const url = URL.parse(raw);
  if (url === null) return false;
  const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
  return host === "localhost" || host === "::1" || (isIP(host) === 4 && host.startsWith("127."));
}

export const keyId = () => z.string().regex(KEY_ID_PATTERN, { error: KEY_ID_MESSAGE });

/** A base64 AES-256 key, imported as a KeyObject so it cannot be changed or printed by accident. */
export const aesKey = () =>
  text().transform((raw, ctx) => {
    const key = decodeKey(raw);
    if (key !== undefined) return key;
    ctx.issues.push({ code: "custom", message: KEY_MESSAGE, input: "" });
    return z.NEVER;
  });

/** Retired keys for rotation, "id:base64,id:base64"; they still open values but never seal. */
export const oldKeys = () =>
  z.string().transform((raw, ctx) => {
    const entries: [string, KeyObject][] = [];
    raw.split(",").forEach((entry, index) => {
      const separator = entry.indexOf(":");
      const id = entry.slice(0, separator).trim();
      const key = separator > 0 ? decodeKey(entry.slice(separator + 1).trim()) : undefined;
      if (!KEY_ID_PATTERN.test(id)) {
        ctx.issues.push({
          code: "custom",
          message: `entry ${index + 1}: key id ${KEY_ID_MESSAGE}`,
          input: "",
        });
      } else if (key === undefined) {
        ctx.issues.push({ code: "custom", message: `entry ${index + 1}: key ${KEY_MESSAGE}`, input: "" });
      } else {
        entries.push([id, key]);
      }
    });
    return entries;
  });

function decodeKey(text: string): KeyObject | undefined {
  if (!BASE64.test(text)) return undefined;
  const bytes = Buffer.from(text, "base64");
  return bytes.length === KEY_BYTES ? createSecretKey(bytes) : undefined;
}

/** A lowercase Hetzner name such as a location, server type or image ("nbg1", "cx23", "ubuntu-24.04"). */
const HCLOUD_NAME = /^[a-z0-9][a-z0-9._-]*$/;

export const hcloudName = () => z.string().regex(HCLOUD_NAME, { error: "must be a lowercase Hetzner name" });

/**
 * Images our user-data is written for: customers get Ubuntu 24.04; Debian 13 is what the real-machine
 * lane boots (docs/server-images.md lists what differs between them).
 */
export const SERVER_IMAGES = ["ubuntu-24.04", "debian-13"] as const;

export const serverImage = () =>
  z.enum(SERVER_IMAGES, { error: `must be one of ${SERVER_IMAGES.join(", ")}` });

/** A comma list of Hetzner names, at least one, in the given order. */
export const hcloudNameList = () =>
  z.string().transform((raw, ctx) => {
    const names = raw.split(",").map((entry) => entry.trim());
    if (names.every((name) => HCLOUD_NAME.test(name))) return names;
    ctx.issues.push({
      code: "custom",
      message: "must be a comma list of lowercase Hetzner names",
      input: raw,
    });
    return z.NEVER;
  });

/** Label keys the provisioner sets itself (ownership); extra labels may not override them. */
const RESERVED_LABEL_KEYS: ReadonlySet<string> = new Set(["managed-by", "instance"]);
/** Hetzner's label rules: an optional DNS-name prefix and "/", then a name; values may be empty. */
const LABEL_KEY =
  /^(?:[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?\/)?[a-zA-Z0-9]([a-zA-Z0-9._-]{0,61}[a-zA-Z0-9])?$/;
const LABEL_VALUE = /^(?:[a-zA-Z0-9]([a-zA-Z0-9._-]{0,61}[a-zA-Z0-9])?)?$/;

/** A comma list of `key=value` Hetzner labels, e.g. "env=staging,smoke-run=3f9c"; keys unique and not reserved. */
export const labelList = () =>
  z.string().transform((raw, ctx) => {
    const labels: Record<string, string> = {};
    raw.split(",").forEach((entry, index) => {
      const [key = "", value, ...rest] = entry.trim().split("=");
      const problem =
        value === undefined || rest.length > 0
          ? "must be key=value"
          : !LABEL_KEY.test(key) || !LABEL_VALUE.test(value)
            ? "is not a valid Hetzner label (letters, digits, '-', '_', '.'; at most 63 characters each side)"
            : RESERVED_LABEL_KEYS.has(key)
              ? `'${key}' is set by the provisioner itself`
              : key in labels
                ? `repeats '${key}'`
                : undefined;
      if (problem === undefined) labels[key] = value ?? "";
      else ctx.issues.push({ code: "custom", message: `entry ${index + 1}: ${problem}`, input: "" });
    });
    return labels;
  });

/**
 * A comma list of IP addresses or CIDR blocks, normalized to CIDR (a bare address gets /32 or /128)
 * because Hetzner firewall rules take CIDR only.
 */
export const cidrList = () =>
  z.string().transform((raw, ctx) => {
    const blocks: string[] = [];
    raw.split(",").forEach((entry, index) => {
      const block = toCidr(entry.trim());
      if (block === undefined) {
        ctx.issues.push({
          code: "custom",
          message: `entry ${index + 1}: must be an IP address or CIDR`,
          input: "",
        });
      } else {
        blocks.push(block);
      }
    });
    return blocks;
  });

function toCidr(entry: string): string | undefined {
  const [address = "", prefix, ...rest] = entry.split("/");
  const version = isIP(address);
  if (version === 0 || rest.length > 0) return undefined;
  const maxPrefix = version === 4 ? 32 : 128;
  if (prefix === undefined) return `${address}/${maxPrefix}`;
  return /^\d{1,3}$/.test(prefix) && Number(prefix) <= maxPrefix ? `${address}/${Number(prefix)}` : undefined;
}

// file: is for bundles built from a local repository (tests, the demo); cloning user-data refuses it.
const REPO_PROTOCOLS: ReadonlySet<string> = new Set(["https:", "http:", "ssh:", "git:", "file:"]);

/** A git repository URL (https, http, ssh, git or file) without a password, which would end up in logs. */
export const repoUrl = () =>
  z.string().refine(
    (raw) => {
      const url = URL.parse(raw);
      return url !== null && REPO_PROTOCOLS.has(url.protocol) && !url.password && !/\s/.test(raw);
    },
    { error: "must be an https, http, ssh, git or file URL without a password" },
  );

/** A branch, tag or commit id: git's own rules, narrowed so it can never read as a command-line option. */
export const gitRef = () =>
  z
    .string()
    .regex(/^[A-Za-z0-9_][A-Za-z0-9._/-]*$/, {
      error: "must be a branch, tag or commit id (letters, digits, ./_-)",
    })
    .refine((raw) => !raw.includes("..") && !raw.endsWith("/") && !raw.endsWith(".lock"), {
      error: "must be a branch, tag or commit id (letters, digits, ./_-)",
    });

/** An exact package version as npm publishes it ("1.4.5", "2.1.0-beta.1"); ranges would make builds drift. */
export const packageVersion = () =>
  z.string().regex(/^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?$/, { error: "must be an exact version like 1.4.5" });

/** An S3 bucket name as the S3 rules allow it: 3-63 lowercase letters, digits, '.' or '-'. */
export const s3Bucket = () =>
  z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, {
    error: "must be an S3 bucket name (3-63 lowercase letters, digits, '.' or '-')",
  });

/** A key prefix inside a bucket: path segments ending in "/", no leading "/" nor "..". */
export const s3Prefix = () =>
  z.string().regex(/^([A-Za-z0-9._-]+\/)*$/, {
    error: "must be path segments of letters, digits, '.', '_' or '-', each ending in '/'",
  });

/** Variables that hold secrets; each may instead be given as `<NAME>_FILE`, a path to read it from. */
export const SECRET_VARIABLES = [
  "BROKER_TOKEN",
  "SECRETS_KEY",
  "SECRETS_OLD_KEYS",
  "HCLOUD_TOKEN",
  "HCLOUD_PROJECTS",
  "SERVICE_TOKEN",
  "OPS_TOKEN",
  "STANDARD_WEBHOOK_SECRET",
  "STRIPE_WEBHOOK_SECRET",
  "BACKUP_S3_SECRET_ACCESS_KEY",
] as const;
