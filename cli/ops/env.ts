/**
 * What the ops CLI needs from the environment, and only that (no BROKER_TOKEN, no SECRETS_KEY): where the
 * API is and the operator token. Parsed with the service's own field rules; each problem names its variable.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import { bearerToken, host, httpOrigin, httpUrl, port, text } from "../../core/config-fields.ts";
import { readSecretFiles } from "../../core/secret-files.ts";
import { DEV_ENV_FILE, parseEnvFile } from "../dev-secrets.ts";

export interface OpsEnv {
  /** Base URL of the API, no trailing slash. */
  apiUrl: string;
  /** Bearer token for /v1/ops/…; never printed. */
  token: string;
}

/** The environment is missing or has a bad variable; every line names one. Exit code 2. */
export class OpsEnvError extends Error {
  override readonly name = "OpsEnvError";
  constructor(readonly problems: readonly string[]) {
    super(problems.join("\n"));
  }
}

const envSchema = z.object({
  OPS_API_URL: httpUrl().optional(),
  API_HOST: host().default("127.0.0.1"),
  API_PORT: port().default(8080),
  OPS_TOKEN: bearerToken(),
  DATA_DIR: text().default("./data"),
});

export function loadOpsEnv(env: Readonly<Record<string, string | undefined>>): OpsEnv {
  const input: Record<string, string | undefined> = {};
  for (const name of Object.keys(envSchema.shape)) input[name] = env[name] === "" ? undefined : env[name];
  const files = readSecretFiles(env, ["OPS_TOKEN"]);
  Object.assign(input, files.values);
  if (input.OPS_TOKEN === undefined && files.failed.length === 0) {
    input.OPS_TOKEN = devToken(input.DATA_DIR ?? "./data");
  }
  const parsed = envSchema.safeParse(input);
  const problems = [
    ...files.problems,
    ...(parsed.success
      ? []
      : parsed.error.issues.map((issue) => `${issue.path.join(".")}: ${issue.message}`)),
  ];
  if (!parsed.success || problems.length > 0) throw new OpsEnvError(problems.map(explainMissingToken));
  const { OPS_API_URL, API_HOST, API_PORT, OPS_TOKEN } = parsed.data;
  return { apiUrl: OPS_API_URL ?? httpOrigin(API_HOST, API_PORT), token: OPS_TOKEN };
}

/** The token `bun run dev` generated, so the CLI works beside it without exporting anything. */
function devToken(dataDir: string): string | undefined {
  const path = join(dataDir, DEV_ENV_FILE);
  return existsSync(path) ? parseEnvFile(readFileSync(path, "utf8")).OPS_TOKEN : undefined;
}

function explainMissingToken(problem: string): string {
  return problem === "OPS_TOKEN: required"
    ? "OPS_TOKEN: required (set OPS_TOKEN or OPS_TOKEN_FILE to the API's operator token)"
    : problem;
}
