/**
 * The "try next" block of `bun run demo --keep` and `bun run dev` as a person uses it: read off the printed
 * output, each command pasted into a shell of its own (`bash -c`) in the repository.
 */
import { dirname, resolve } from "node:path";
import { type CommandResult, runCommand } from "../support/run-command.ts";

export interface PrintedCommand {
  /** The `# …` line above it. */
  what: string;
  command: string;
}

export const repoRoot = resolve(import.meta.dir, "../..");
/** A person's shell: PATH (with this bun) and HOME, nothing of the stack's environment. */
export const shellEnv = {
  PATH: `${dirname(process.execPath)}:${process.env.PATH ?? "/usr/bin:/bin"}`,
  HOME: process.env.HOME ?? "/root",
};

/** The commands under the line starting with "try next": `  # what` then the command's indented lines. */
export function printedCommands(lines: readonly string[]): PrintedCommand[] {
  const start = lines.findIndex((line) => line.startsWith("try next"));
  if (start === -1) throw new Error(`no "try next" block in:\n${lines.join("\n")}`);
  const commands: PrintedCommand[] = [];
  for (const line of lines.slice(start + 1)) {
    if (line === "") continue;
    if (!line.startsWith("  ")) break;
    if (line.startsWith("  # ")) commands.push({ what: line.slice(4), command: "" });
    else {
      const current = commands.at(-1);
      if (!current) throw new Error(`a command line before any "# …" line: ${line}`);
      current.command += `${line.slice(2)}\n`;
    }
  }
  return commands;
}

/** Runs one printed command as pasted into a fresh shell; a non-zero exit fails with everything it wrote. */
export async function paste(printed: PrintedCommand): Promise<CommandResult> {
  const result = await runCommand(["bash", "-c", printed.command], {
    cwd: repoRoot,
    env: shellEnv,
    timeoutMs: 60_000,
  });
  if (result.exitCode !== 0) {
    throw new Error(
      `"${printed.what}" exited with ${result.exitCode}:\n${printed.command}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`,
    );
  }
  return result;
}

/** The printed command whose `# …` line starts with `what`. */
export function commandFor(commands: readonly PrintedCommand[], what: string): PrintedCommand {
  const found = commands.find((command) => command.what.startsWith(what));
  if (!found)
    throw new Error(`no printed command for "${what}" among:\n${commands.map((c) => c.what).join("\n")}`);
  return found;
}
