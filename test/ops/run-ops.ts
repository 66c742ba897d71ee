/** Runs `bun cli/ops.ts …` as a real process, as an operator's shell would, and collects what it printed. */
import { resolve } from "node:path";
import { runCommand } from "../support/run-command.ts";

const repoRoot = resolve(import.meta.dir, "../..");
/** Generous for one bun start on a loaded 2-core machine. */
const CLI_TIMEOUT_MS = 30_000;

export interface OpsRun {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** Only the variables given (plus PATH) reach the CLI: it must not need the service's configuration. */
export async function runOps(args: readonly string[], env: Record<string, string>): Promise<OpsRun> {
  return runCommand(["bun", "cli/ops.ts", ...args], {
    cwd: repoRoot,
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...env },
    timeoutMs: CLI_TIMEOUT_MS,
  });
}
