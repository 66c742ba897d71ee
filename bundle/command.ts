/** Runs one build tool (git, bun, tar) to its end; a non-zero exit becomes a BundleError with its stderr. */
import { BundleError } from "./errors.ts";

/** Lines of a failed tool's stderr kept in the error: enough to say why, short enough for a terminal. */
const STDERR_TAIL_LINES = 12;

export interface ToolRun {
  argv: readonly string[];
  cwd?: string;
  /** Environment additions; the tool otherwise inherits this process's. */
  env?: Record<string, string>;
  signal?: AbortSignal;
}

/** The tool's stdout; throws BundleError(code) naming the command and the tail of its stderr. */
export async function runTool(run: ToolRun, code: BundleError["code"]): Promise<string> {
  const child = Bun.spawn([...run.argv], {
    cwd: run.cwd,
    env: { ...process.env, ...run.env },
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
    signal: run.signal,
  });
  const [stdout, stderr, exitCode] = await Promise.all([
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
    child.exited,
  ]);
  if (exitCode !== 0) {
    const tail = stderr.trim().split("\n").slice(-STDERR_TAIL_LINES).join("\n");
    throw new BundleError(code, `${run.argv.slice(0, 2).join(" ")} exited ${exitCode}: ${tail}`);
  }
  return stdout;
}
