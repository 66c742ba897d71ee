/**
 * Everything the smoke checks before it spends a cent: the stack's environment built from the operator's
 * (with every problem named), then at Hetzner the server type's price against the cost cap and a project
 * clean of anything a previous smoke or a production provisioner left.
 */
import { type Config, ConfigError, generateDevSecrets, loadConfig } from "../core/config.ts";
import { isLoopbackUrl } from "../core/config-fields.ts";
import type { HetznerClient } from "../hetzner/index.ts";
import { findLabelled, SMOKE_LABEL, smokeSelector } from "./smoke-cleanup.ts";

/** Operator variables the smoke's stack takes over as they are. */
const PASSED_THROUGH = [
  "PATH",
  "HOME",
  "TMPDIR",
  "LOG_LEVEL",
  "HCLOUD_TOKEN",
  "HCLOUD_TOKEN_FILE",
  "HCLOUD_ENDPOINT",
  "PUBLIC_BASE_URL",
  "PUBLIC_API_HOST",
  "PUBLIC_API_PORT",
  "TRUSTED_PROXIES",
  "CONTROL_PLANE_IPS",
  "PROVISION_LOCATIONS",
  "SERVER_TYPE",
  "SERVER_IMAGE",
  "SSH_PORT",
  "CLOUD_INIT_TIMEOUT_MS",
  "VERIFY_SETTLE_MS",
  "APP_REPO_URL",
  "EXPECTED_SERVER_DELETION_MS",
] as const;

/** One day: the stack's sweep never runs during a smoke (it would judge the project's other servers). */
const NO_SWEEP_MS = "86400000";

export interface SmokeStackPlan {
  env: Record<string, string>;
  config: Config;
  /** HCLOUD_ENDPOINT is on loopback: a simulator, where plain http and loopback callbacks are allowed. */
  simulated: boolean;
}

export interface StackPlanInput {
  operatorEnv: Readonly<Record<string, string | undefined>>;
  runId: string;
  dataDir: string;
  /** Free loopback ports for the private API and the broker (TCP, HTTP). */
  ports: readonly [number, number, number];
}

/** The stack's environment, or every reason it cannot run, each naming its variable and what to do. */
export function planSmokeStack(input: StackPlanInput): SmokeStackPlan | { problems: string[] } {
  const given = givenIn(input.operatorEnv);
  const { simulated, problems } = endpointProblems(given);
  const publicBaseUrl = given("PUBLIC_BASE_URL");
  if (publicBaseUrl === undefined || (!simulated && URL.parse(publicBaseUrl)?.protocol !== "https:")) {
    problems.push(
      "PUBLIC_BASE_URL: required, https: the new server phones home to it over the internet. Run the smoke " +
        "on the control-plane box behind Caddy (deploy/Caddyfile) with a site that forwards to this run's " +
        "PUBLIC_API_PORT, and set TRUSTED_PROXIES to the proxy's address",
    );
  }
  if (given("CONTROL_PLANE_IPS") === undefined) {
    problems.push(
      "CONTROL_PLANE_IPS: required: the server's firewall lets SSH in only from these addresses; give this " +
        "machine's public IPv4 (and IPv6), the source of the worker's SSH connections",
    );
  }
  const env: Record<string, string> = {};
  for (const name of PASSED_THROUGH) {
    const value = given(name);
    if (value !== undefined) env[name] = value;
  }
  Object.assign(env, generateDevSecrets(), {
    DATA_DIR: input.dataDir,
    API_HOST: "127.0.0.1",
    API_PORT: String(input.ports[0]),
    BROKER_HOST: "127.0.0.1",
    BROKER_PORT: String(input.ports[1]),
    BROKER_HTTP_PORT: String(input.ports[2]),
    WORKER_METRICS_PORT: "0",
    HCLOUD_LABELS: `${SMOKE_LABEL}=${input.runId}`,
    RECONCILE_INTERVAL_MS: NO_SWEEP_MS,
  });
  try {
    const config = loadConfig(env);
    return problems.length > 0 ? { problems } : { env, config, simulated };
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return { problems: [...problems, ...err.problems] };
  }
}

/** Only what `--clean` needs: the Hetzner endpoint and token, checked as for a run. */
export function planCleanup(
  operatorEnv: Readonly<Record<string, string | undefined>>,
): { endpoint: string; token: string } | { problems: string[] } {
  const given = givenIn(operatorEnv);
  const { problems } = endpointProblems(given);
  const env: Record<string, string> = { ...generateDevSecrets() };
  for (const name of ["HCLOUD_TOKEN", "HCLOUD_TOKEN_FILE", "HCLOUD_ENDPOINT"]) {
    const value = given(name);
    if (value !== undefined) env[name] = value;
  }
  try {
    const config = loadConfig(env);
    return problems.length > 0
      ? { problems }
      : { endpoint: config.hcloudEndpoint, token: config.hcloudProjects[0].token };
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return { problems: [...problems, ...err.problems] };
  }
}

type Given = (name: string) => string | undefined;

/** An empty variable counts as unset, as in core/config.ts. */
function givenIn(env: Readonly<Record<string, string | undefined>>): Given {
  return (name) => {
    const value = env[name];
    return value === undefined || value === "" ? undefined : value;
  };
}

/** Real Hetzner needs https and no CI; a loopback endpoint is a simulator and may be plain http. */
function endpointProblems(given: Given): { simulated: boolean; problems: string[] } {
  const endpoint = given("HCLOUD_ENDPOINT") ?? "https://api.hetzner.cloud/v1";
  const simulated = isLoopbackUrl(endpoint);
  const problems: string[] = [];
  if (!simulated && URL.parse(endpoint)?.protocol !== "https:") {
    problems.push(
      "HCLOUD_ENDPOINT: must be https; plain http is allowed only for a loopback endpoint (a simulator)",
    );
  }
  if (!simulated && given("CI") !== undefined) {
    problems.push("CI: is set; the smoke spends money at a real Hetzner project and never runs in CI");
  }
  return { simulated, problems };
}

export interface PriceCheck {
  /** The highest gross hourly price among the configured locations, in EUR. */
  hourlyEur: number;
  /** Hetzner bills each started hour: the most this run can cost under its wall-clock cap, in EUR. */
  worstCaseEur: number;
  line: string;
}

/** The server type's price from GET /server_types; throws a sentence when the type is unknown. */
export async function checkPrice(
  hetzner: HetznerClient,
  config: Config,
  maxMinutes: number,
): Promise<PriceCheck> {
  const type = await hetzner.serverTypes.getByName(config.serverType);
  if (type === null) throw new Error(`SERVER_TYPE: Hetzner has no server type '${config.serverType}'`);
  const prices = type.prices.filter((price) => config.provisionLocations.includes(price.location));
  if (prices.length === 0) {
    throw new Error(`${config.serverType} is sold in none of ${config.provisionLocations.join(", ")}`);
  }
  const hourlyEur = Math.max(...prices.map((price) => Number(price.price_hourly.gross)));
  const worstCaseEur = hourlyEur * Math.ceil(maxMinutes / 60);
  const where = prices
    .map((price) => `${price.location} €${Number(price.price_hourly.gross).toFixed(4)}`)
    .join(", ");
  return {
    hourlyEur,
    worstCaseEur,
    line:
      `${type.name} (${type.cores} vCPU, ${type.memory} GB): ${where} per hour incl. VAT, billed per started ` +
      `hour; one server for at most ${maxMinutes} min costs at most €${worstCaseEur.toFixed(4)} (plus its IPv4)`,
  };
}

/** Why the project is not fit for a smoke (leftovers of earlier runs, a provisioner's servers), or none. */
export async function projectProblems(hetzner: HetznerClient): Promise<string[]> {
  const [smokes, managed] = await Promise.all([
    findLabelled(hetzner, smokeSelector()),
    findLabelled(hetzner, "managed-by=rachel-provisioner"),
  ]);
  const problems: string[] = [];
  if (smokes.lines.length > 0) {
    problems.push(
      `the project still holds what an earlier smoke made (remove it with \`bun run smoke --clean\`):\n    ${smokes.lines.join("\n    ")}`,
    );
  }
  const others = managed.lines.filter((line) => !smokes.lines.includes(line));
  if (others.length > 0) {
    problems.push(
      `the project holds a provisioner's resources; run the smoke in a Hetzner project of its own:\n    ${others.join("\n    ")}`,
    );
  }
  return problems;
}
