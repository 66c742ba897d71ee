/**
 * `bun run dev`: broker, api and worker for local use, with pretty logs prefixed by process. With no Hetzner
 * settings (HCLOUD_TOKEN, HCLOUD_TOKEN_FILE, HCLOUD_ENDPOINT) the built-in simulator runs alongside, in this
 * process; any of them switches it off. Secrets are generated once into DATA_DIR/dev.env; variables already
 * set in the shell take precedence. Once ready it prints commands to try next (cli/try-next.ts).
 * Ctrl-C stops all three (worker and api first, then the broker), then the simulator.
 */
import { randomBytes } from "node:crypto";
import { mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { architectureOfServerType } from "../bundle/architecture.ts";
import { bundleStoreDir } from "../bundle/store.ts";
import { type Config, ConfigError, loadConfig } from "../core/config.ts";
import { ensureStandInBundle } from "../sim/bundle/stand-in.ts";
import { type Simulator, startSimulator } from "../sim/index.ts";
import { fakeCustomerSecrets } from "./demo-customer.ts";
import { DEV_ENV_FILE, loadOrCreateDevSecrets } from "./dev-secrets.ts";
import { type LocalService, type LocalStack, startLocalStack } from "./local-stack.ts";
import {
  COMPRESSED_TIME_SCALE,
  describeTimeScale,
  SIMULATED_DEFAULTS,
  simulatorWiring,
} from "./simulated-stack.ts";
import { formatTryNext, tryNextCommands } from "./try-next.ts";
import { exitOnHelp } from "./usage.ts";

exitOnHelp(
  process.argv.slice(2),
  `usage: bun run dev
Runs broker, api and worker for local use, with pretty logs prefixed by process, until Ctrl-C, and prints
commands to try next. With no HCLOUD_TOKEN, HCLOUD_TOKEN_FILE or HCLOUD_ENDPOINT the built-in Hetzner
simulator runs alongside; any of them switches it off. Secrets are generated once into DATA_DIR/dev.env
(DATA_DIR defaults to ./data); variables already set in the shell take precedence.
  -h, --help   this text`,
);

const COLORS: Record<LocalService, string> = { broker: "\x1b[35m", api: "\x1b[36m", worker: "\x1b[33m" };
const RESET = "\x1b[0m";
/** Variables that mean "use Hetzner": any of them, non-empty, switches the simulator off. */
const HETZNER_SETTINGS = ["HCLOUD_TOKEN", "HCLOUD_TOKEN_FILE", "HCLOUD_ENDPOINT"] as const;

const say = (message: string) => process.stdout.write(`[dev] ${message}\n`);
const dataDir = resolve(process.env.DATA_DIR ?? "./data");
mkdirSync(dataDir, { recursive: true });
const devSecrets = loadOrCreateDevSecrets(dataDir);
const shell = definedOnly(process.env);
const useSimulator = HETZNER_SETTINGS.every((name) => !shell[name]);

const sim = useSimulator ? await startAnnouncedSimulator() : undefined;
const env: Record<string, string> = {
  ...devSecrets,
  LOG_PRETTY: "true",
  // Local use: no TLS proxy in front, so machines reaching this box phone home over plain http.
  PUBLIC_BASE_URL_ALLOW_HTTP: "true",
  ...(sim ? SIMULATED_DEFAULTS : {}),
  ...shell,
  ...(sim ? simulatorWiring(sim) : {}),
  DATA_DIR: dataDir,
};
// Checked here once, so a missing variable is one clear message rather than three failing children.
const config = await loadConfigOrStop(env);
if (!sim) say(`using Hetzner at ${config.hcloudEndpoint}`);
if (sim) {
  // The simulated machines boot the stand-in app's bundle; against Hetzner, `bun run bundle` builds the real one.
  const architecture = architectureOfServerType(config.serverType);
  const bundle = await ensureStandInBundle(bundleStoreDir(config.dataDir), architecture);
  say(`app bundle ${bundle.id.slice(0, 12)} (stand-in app ${bundle.appCommit.slice(0, 8)}, ${architecture})`);
}

const stack = await startLocalStack({
  env,
  config,
  onLine: (service, line) => process.stdout.write(`${COLORS[service]}[${service}]${RESET} ${line}\n`),
}).catch(async (err: unknown) => {
  say(`could not start: ${err instanceof Error ? err.message : String(err)}`);
  await sim?.stop();
  process.exit(1);
});
printTryNext(stack, config);
say(
  `ready: private api ${stack.apiUrls.private}, public api ${stack.apiUrls.public}, data in ${dataDir} (Ctrl-C stops)`,
);

let stopRequested = false;
const stopAll = (reason: string, exitCode: number) => {
  if (stopRequested) return;
  stopRequested = true;
  say(`stopping (${reason})`);
  stack
    .stop()
    .then(() => sim?.stop())
    .then(
      () => process.exit(exitCode),
      (err: unknown) => {
        say(`stop failed: ${err instanceof Error ? err.message : String(err)}`);
        process.exit(1);
      },
    );
};
process.on("SIGINT", () => stopAll("SIGINT", 0));
process.on("SIGTERM", () => stopAll("SIGTERM", 0));
void stack.firstExit.then(({ service, code }) => stopAll(`${service} exited with code ${code}`, 1));

async function startAnnouncedSimulator(): Promise<Simulator> {
  say(`no Hetzner settings (${HETZNER_SETTINGS.join(", ")}): using the built-in simulator instead`);
  say(describeTimeScale(COMPRESSED_TIME_SCALE));
  const started = await startSimulator({ timeScale: COMPRESSED_TIME_SCALE });
  say(`simulator at ${started.endpoint} (token ${started.token}); set HCLOUD_TOKEN to use Hetzner`);
  return started;
}

/** The configuration, or `config error: …` lines and exit 1 (after stopping the simulator). */
async function loadConfigOrStop(source: Record<string, string>): Promise<Config> {
  try {
    return loadConfig(source);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(err.problems.map((problem) => `config error: ${problem}\n`).join(""));
    await sim?.stop();
    process.exit(1);
  }
}

/**
 * The commands read their secrets from dev.env; when the shell overrides one they use, they would be
 * refused, so they are not shown.
 */
function printTryNext(started: LocalStack, running: Config): void {
  const envFile = join(dataDir, DEV_ENV_FILE);
  const overridden = [
    ["SERVICE_TOKEN", running.serviceToken],
    ["OPS_TOKEN", running.opsToken],
    ["STANDARD_WEBHOOK_SECRET", running.standardWebhookSecret],
  ].flatMap(([name = "", value]) => (devSecrets[name] === value ? [] : [name]));
  if (overridden.length > 0) {
    say(
      `no commands to try printed: they read ${envFile}, but your environment sets ${overridden.join(", ")}`,
    );
    return;
  }
  const target = {
    apiUrls: started.apiUrls,
    dataDir,
    envFile,
    ...(sim ? { simBaseUrl: sim.baseUrl } : {}),
    newCustomer: { id: `cus_${randomBytes(4).toString("hex")}`, secrets: fakeCustomerSecrets("dev") },
  };
  process.stdout.write(`\n${formatTryNext(target, tryNextCommands(target))}\n`);
}

function definedOnly(source: Record<string, string | undefined>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(source).filter((entry): entry is [string, string] => entry[1] !== undefined),
  );
}
