/**
 * `bun run dev`: broker, api and worker for local use, with pretty logs prefixed by process.
 * Secrets are generated once into DATA_DIR/dev.env; variables already set in the shell take precedence.
 * Ctrl-C stops all three (worker and api first, then the broker).
 */
import { mkdirSync } from "node:fs";
import { loadConfigOrExit } from "../core/config.ts";
import { loadOrCreateDevSecrets } from "./dev-secrets.ts";
import { type LocalService, startLocalStack } from "./local-stack.ts";
import { exitOnHelp } from "./usage.ts";

exitOnHelp(
  process.argv.slice(2),
  `usage: bun run dev
Runs broker, api and worker for local use, with pretty logs prefixed by process, until Ctrl-C.
Secrets are generated once into DATA_DIR/dev.env (DATA_DIR defaults to ./data); variables already set
in the shell take precedence.
  -h, --help   this text`,
);

const COLORS: Record<LocalService, string> = { broker: "\x1b[35m", api: "\x1b[36m", worker: "\x1b[33m" };
const RESET = "\x1b[0m";

const dataDir = process.env.DATA_DIR ?? "./data";
mkdirSync(dataDir, { recursive: true });
const env: Record<string, string> = {
  ...loadOrCreateDevSecrets(dataDir),
  LOG_PRETTY: "true",
  ...definedOnly(process.env),
  DATA_DIR: dataDir,
};
// Checked here once, so a missing variable is one clear message rather than three failing children.
const config = loadConfigOrExit(env);

const say = (message: string) => process.stdout.write(`[dev] ${message}\n`);
const stack = await startLocalStack({
  env,
  config,
  onLine: (service, line) => process.stdout.write(`${COLORS[service]}[${service}]${RESET} ${line}\n`),
}).catch((err: unknown) => {
  say(`could not start: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
say(`ready: api http://${config.apiHost}:${config.apiPort}, data in ${dataDir} (Ctrl-C stops)`);

let stopRequested = false;
const stopAll = (reason: string, exitCode: number) => {
  if (stopRequested) return;
  stopRequested = true;
  say(`stopping (${reason})`);
  stack.stop().then(
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

function definedOnly(source: Record<string, string | undefined>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(source).filter((entry): entry is [string, string] => entry[1] !== undefined),
  );
}
