/**
 * `bun run ops <command>`: the operator's CLI over the ops API (`--help` lists the commands). Exit codes:
 * 0 done; 1 the API refused or failed (its code, message and requestId printed); 2 wrong command line or
 * environment (the bad argument or variable named), or a restore refused; 3 the API is unreachable.
 */
import { type Config, ConfigError, loadConfig } from "../core/config.ts";
import { WaitTimeoutError } from "../core/wait.ts";
import { parseOpsArgs, USAGE, UsageError } from "./ops/args.ts";
import { createOpsClient, OpsApiError, OpsApiUnreachableError } from "./ops/client.ts";
import { loadOpsEnv, OpsEnvError } from "./ops/env.ts";
import { runRestore } from "./ops/restore.ts";
import { runOpsCommand } from "./ops/run.ts";

const EXIT_API_ERROR = 1;
const EXIT_USAGE = 2;
const EXIT_UNREACHABLE = 3;

process.exitCode = await main(process.argv.slice(2)).catch((err: unknown) => {
  process.stderr.write(`ops: ${failureText(err)}\n`);
  return exitCodeOf(err);
});

async function main(argv: string[]): Promise<number> {
  const invocation = parseOpsArgs(argv);
  if (invocation.command === null) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const { command } = invocation;
  if (command.name === "restore") {
    const config = loadConfigOrUsage(process.env);
    const restored = await runRestore({ dataDir: config.dataDir, backup: config.backup }, command.snapshot);
    const lines = invocation.json ? [JSON.stringify(restored.body, null, 2)] : restored.lines;
    process.stdout.write(`${lines.join("\n")}\n`);
    return 0;
  }
  const client = createOpsClient(loadOpsEnv(process.env));
  const lines = await runOpsCommand(client, command, invocation.json);
  process.stdout.write(`${lines.join("\n")}\n`);
  return 0;
}

/** The service's configuration (restore needs DATA_DIR and BACKUP_*); a bad one is a usage error. */
function loadConfigOrUsage(env: Readonly<Record<string, string | undefined>>): Config {
  try {
    return loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) throw new OpsEnvError(err.problems);
    throw err;
  }
}

function failureText(err: unknown): string {
  if (err instanceof OpsApiError) {
    return `${err.code} (HTTP ${err.status}): ${err.message} [requestId ${err.requestId ?? "none"}]`;
  }
  if (err instanceof UsageError || err instanceof OpsApiUnreachableError || err instanceof WaitTimeoutError) {
    return err.message;
  }
  if (err instanceof OpsEnvError)
    return err.problems.map((problem) => `environment: ${problem}`).join("\nops: ");
  return err instanceof Error ? (err.stack ?? err.message) : String(err);
}

function exitCodeOf(err: unknown): number {
  if (err instanceof UsageError || err instanceof OpsEnvError) return EXIT_USAGE;
  if (err instanceof OpsApiUnreachableError) return EXIT_UNREACHABLE;
  return EXIT_API_ERROR;
}
