import { readFileSync } from "node:fs";

export const defaultHetznerEndpoint = "https://api.hetzner.cloud/v1";

/** A Hetzner setting in the environment is missing or wrong; the message names the variable. */
export class HetznerConfigError extends Error {
  override readonly name = "HetznerConfigError";
}

/**
 * Reads HCLOUD_TOKEN or HCLOUD_TOKEN_FILE (exactly one) and HCLOUD_ENDPOINT (default the real API).
 * Called once at boot by an entry point; modules get the result passed in.
 */
export function hetznerOptionsFromEnv(env: Record<string, string | undefined>): {
  endpoint: string;
  token: string;
} {
  return { endpoint: readEndpoint(env.HCLOUD_ENDPOINT), token: readToken(env) };
}

function readToken(env: Record<string, string | undefined>): string {
  const inline = env.HCLOUD_TOKEN;
  const file = env.HCLOUD_TOKEN_FILE;
  if (inline && file) throw new HetznerConfigError("set HCLOUD_TOKEN or HCLOUD_TOKEN_FILE, not both");
  if (file) {
    let content: string;
    try {
      content = readFileSync(file, "utf8");
    } catch (err) {
      const reason = (err as NodeJS.ErrnoException).code ?? "unreadable";
      throw new HetznerConfigError(`HCLOUD_TOKEN_FILE ${file} cannot be read (${reason})`);
    }
    const token = content.trim();
    if (token === "") throw new HetznerConfigError(`HCLOUD_TOKEN_FILE ${file} is empty`);
    return token;
  }
  const token = inline?.trim() ?? "";
  if (token === "") throw new HetznerConfigError("HCLOUD_TOKEN (or HCLOUD_TOKEN_FILE) is required");
  return token;
}

function readEndpoint(value: string | undefined): string {
  const endpoint = value?.trim() || defaultHetznerEndpoint;
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw new HetznerConfigError(`HCLOUD_ENDPOINT is not a URL: ${endpoint}`);
  }
  if (url.protocol !== "https:" && url.protocol !== "http:")
    throw new HetznerConfigError(`HCLOUD_ENDPOINT must be http(s): ${endpoint}`);
  if (url.username || url.password || url.search)
    throw new HetznerConfigError("HCLOUD_ENDPOINT must not carry credentials or a query");
  return endpoint.replace(/\/+$/, "");
}
