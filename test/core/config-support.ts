/** Shared by the configuration tests: the smallest valid environment, and the problems loadConfig reports. */
import { ConfigError, generateDevSecrets, loadConfig } from "../../core/config.ts";

/** Exactly the required variables (the dev secrets' optional tokens and webhook secrets left out). */
export function requiredEnv(): Record<string, string> {
  const { BROKER_TOKEN, SECRETS_KEY } = generateDevSecrets();
  return { BROKER_TOKEN, SECRETS_KEY, HCLOUD_TOKEN: "hcloud-token-value" };
}

/** The problems loadConfig reports for `env`; throws if it loads. */
export function problemsOf(env: Record<string, string | undefined>): readonly string[] {
  try {
    loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error("expected a ConfigError");
}
