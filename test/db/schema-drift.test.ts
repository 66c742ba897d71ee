import { afterEach, beforeEach, expect, test } from "bun:test";
import { cpSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative, resolve } from "node:path";
import { runCommand } from "../support/run-command.ts";

const repoRoot = resolve(import.meta.dir, "../..");
let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "rachel-drift-"));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

test("db/schema.ts has no change that lacks a generated migration", async () => {
  // Generate against a copy of migrations/, so a drift shows up here instead of writing into the repo.
  const out = join(dir, "migrations");
  cpSync(join(repoRoot, "migrations"), out, { recursive: true });
  const before = readdirSync(out).length;
  // drizzle-kit reads `out` relative to its working directory, whatever it is given.
  const args = ["--dialect", "sqlite", "--schema", "./db/schema.ts", "--out", relative(repoRoot, out)];
  const { exitCode, stdout } = await runCommand(["bunx", "drizzle-kit", "generate", ...args], {
    cwd: repoRoot,
  });
  expect(exitCode).toBe(0);
  expect(stdout).toContain("No schema changes");
  expect(readdirSync(out)).toHaveLength(before);
});
