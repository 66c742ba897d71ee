/**
 * Runs a host tool (ip, nsenter, mount…) to its end, `stdin` (a file or bytes) on its standard input; a
 * non-zero exit is a ContainerHostError naming the command.
 */
import { ContainerHostError } from "./errors.ts";

export async function run(argv: string[], stdin: Blob | Uint8Array | "ignore" = "ignore"): Promise<string> {
  const child = Bun.spawn(argv, { stdin, stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, code] = await Promise.all([
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
    child.exited,
  ]);
  if (code !== 0)
    throw new ContainerHostError("command_failed", `${argv.join(" ")} exited ${code}: ${stderr.trim()}`);
  return stdout;
}
