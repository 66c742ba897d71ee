/**
 * `bun run <command> --help` prints the command's usage and exits 0 without starting anything, for every
 * package.json script that runs a command of ours (cli/, sim/, bench/), including any added later.
 */
import { expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const repoRoot = resolve(import.meta.dir, "../..");
const { scripts } = (await Bun.file(join(repoRoot, "package.json")).json()) as {
  scripts: Record<string, string>;
};
const commands = Object.entries(scripts)
  .filter(([, script]) => /^bun (cli|sim|bench)\//.test(script))
  .map(([name]) => name);

test("the commands include sim, demo, dev, ops and bench", () => {
  expect(commands).toEqual(expect.arrayContaining(["sim", "demo", "dev", "ops", "bench"]));
});

test.each(commands)("bun run %s --help prints its usage and exits 0", async (name) => {
  // A data directory that must not come into being: help starts nothing and writes nothing.
  const scratch = mkdtempSync(join(tmpdir(), "help-"));
  const dataDir = join(scratch, "data");
  try {
    const child = Bun.spawn([process.execPath, "run", name, "--help"], {
      cwd: repoRoot,
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: scratch, DATA_DIR: dataDir, TMPDIR: scratch },
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
    });
    const [exitCode, stdout, stderr] = await Promise.all([
      child.exited,
      new Response(child.stdout).text(),
      new Response(child.stderr).text(),
    ]);
    expect({ exitCode, stderr: stderr.replace(/^\$ .*\n/, "") }).toEqual({ exitCode: 0, stderr: "" });
    expect(stdout.startsWith(`usage: bun run ${name}`)).toBe(true);
    expect(existsSync(dataDir)).toBe(false);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
});
