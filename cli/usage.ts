/** `--help` (or `-h`) for every `bun run` command: its usage on stdout and exit 0, before anything starts. */
export function exitOnHelp(argv: readonly string[], usage: string): void {
  if (!argv.includes("--help") && !argv.includes("-h")) return;
  process.stdout.write(`${usage.trimEnd()}\n`);
  process.exit(0);
}
