/**
 * `bun run bench`: runs every benchmark module in bench/ (each `bench/<name>.ts` prints its own figures
 * against their targets and exits non-zero when one is missed) and ends with a one-line-per-module summary.
 * Each module runs in its own process so one benchmark's memory never counts against another's RSS figure.
 * `bun run bench runtime inject` runs only the named modules.
 */
import { readdirSync } from "node:fs";
import { basename, join } from "node:path";
import { exitOnHelp } from "../cli/usage.ts";

const benchDir = import.meta.dir;
const available = readdirSync(benchDir)
  .filter((file) => file.endsWith(".ts") && file !== basename(import.meta.path))
  .map((file) => file.slice(0, -".ts".length))
  .sort();
exitOnHelp(
  process.argv.slice(2),
  `usage: bun run bench [NAME...]
Runs every benchmark module in bench/ (or only the named ones), each in its own process, and ends with a
one-line-per-module summary; exits 1 when a target is missed.
  NAME         one of: ${available.join(", ")}
  -h, --help   this text`,
);
const requested = process.argv.slice(2);
const unknown = requested.filter((name) => !available.includes(name));
if (unknown.length > 0) {
  console.error(`unknown benchmark(s): ${unknown.join(", ")}; available: ${available.join(", ")}`);
  process.exit(2);
}

const results: { name: string; exitCode: number; seconds: number }[] = [];
for (const name of requested.length > 0 ? requested : available) {
  console.log(`\n== bench/${name}.ts`);
  const startedAt = performance.now();
  const child = Bun.spawn([process.execPath, join(benchDir, `${name}.ts`)], {
    stdin: "ignore",
    stdout: "inherit",
    stderr: "inherit",
  });
  const exitCode = await child.exited;
  results.push({ name, exitCode, seconds: (performance.now() - startedAt) / 1000 });
}

console.log("\nsummary");
for (const { name, exitCode, seconds } of results) {
  const verdict = exitCode === 0 ? "targets met" : `targets missed or benchmark failed (exit ${exitCode})`;
  console.log(`  ${name}: ${verdict} [${seconds.toFixed(1)} s]`);
}
process.exit(results.every((result) => result.exitCode === 0) ? 0 : 1);
