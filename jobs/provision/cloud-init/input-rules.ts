/**
 * One check per user-data input. Each returns the value to use or throws InvalidUserDataInputError
 * naming the field and the rule. User-data is readable by anything on the server and stored at Hetzner,
 * so the rules also keep values from smuggling extra lines into authorized_keys or the callback URL.
 */
import { parsePinnedHostKey } from "../../../remote/host-key.ts";
import { InvalidUserDataInputError } from "./errors.ts";

/** Fits a Hetzner label value and a URL path segment without escaping. */
const INSTANCE_ID = /^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$/;
/** Debian's default NAME_REGEX for useradd. */
const USERNAME = /^[a-z][a-z0-9_-]{0,31}$/;
const ED25519_LINE = /^ssh-ed25519 [A-Za-z0-9+/]+={0,2}(?: .*)?$/;

function hasControlCharacter(value: string): boolean {
  for (const char of value) {
    const code = char.charCodeAt(0);
    if (code < 0x20 || code === 0x7f) return true;
  }
  return false;
}

export function checkInstanceId(value: string): string {
  if (!INSTANCE_ID.test(value))
    throw new InvalidUserDataInputError("instanceId", "must be 1-63 letters, digits, '.', '_' or '-'");
  return value;
}

export function checkUsername(value: string): string {
  if (!USERNAME.test(value) || value === "root")
    throw new InvalidUserDataInputError("username", "must be a lowercase Linux user name other than root");
  return value;
}

/** One line (a newline would smuggle in a second key) holding a well-formed ed25519 key blob. */
export function checkAuthorizedKey(value: string): string {
  const rule = "must be one OpenSSH ed25519 public key line";
  if (!ED25519_LINE.test(value) || hasControlCharacter(value))
    throw new InvalidUserDataInputError("authorizedKey", rule);
  try {
    parsePinnedHostKey(value);
  } catch (error) {
    throw new InvalidUserDataInputError("authorizedKey", rule, { cause: error });
  }
  return value;
}

/** Returns the normalized URL. Its token is a credential, so no rule echoes any part of it. */
export function checkCallbackUrl(value: string, instanceId: string): string {
  if (!URL.canParse(value)) throw new InvalidUserDataInputError("callbackUrl", "must be an absolute URL");
  const url = new URL(value);
  if (url.protocol !== "https:" && url.protocol !== "http:")
    throw new InvalidUserDataInputError("callbackUrl", "must be http or https");
  if (url.username || url.password || url.hash)
    throw new InvalidUserDataInputError("callbackUrl", "must have no credentials and no fragment");
  if (!url.pathname.endsWith(`/v1/cloud-init/${instanceId}/ready`))
    throw new InvalidUserDataInputError("callbackUrl", "must end in /v1/cloud-init/{instanceId}/ready");
  const tokens = url.searchParams.getAll("token");
  if (tokens.length !== 1 || !tokens[0])
    throw new InvalidUserDataInputError("callbackUrl", "must carry exactly one non-empty token parameter");
  if (url.href.includes("$"))
    throw new InvalidUserDataInputError("callbackUrl", "must not contain '$' (cloud-init substitutes $NAME)");
  return url.href;
}
