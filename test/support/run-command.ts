/** Runs a command to its end and collects what it wrote, for tests that judge a process by its output. */
export interface CommandResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export interface RunCommandOptions {
  cwd?: string;
  /** The whole environment of the command; default this process's. */
  env?: Record<string, string | undefined>;
  /** Kills the command after this many ms; default none. */
  timeoutMs?: number;
}

export async function runCommand(argv: string[], options: RunCommandOptions = {}): Promise<CommandResult> {
  const child = Bun.spawn(argv, {
    cwd: options.cwd,
    env: options.env,
    stdout: "pipe",
    stderr: "pipe",
    timeout: options.timeoutMs,
  });
  const [stdout, stderr, exitCode] = await Promise.all([
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
    child.exited,
  ]);
  return { exitCode, stdout, stderr };
}
