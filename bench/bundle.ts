/**
 * Bundle build benchmark: `bun run bundle`'s build of the stand-in app against a loopback npm registry that
 * serves this machine's own Bun binary as `@oven/bun-linux-x64` (the real runtime, so size and time are
 * Bun's) and, as `@anthropic-ai/claude-code-linux-x64`, the real Claude Code binary when
 * BENCH_CLAUDE_CODE_BINARY names one (e.g. node_modules/@anthropic-ai/claude-code-linux-x64/claude of an
 * `npm install @anthropic-ai/claude-code`), else a stand-in script. Reports a cold build (empty cache), a
 * rebuild of the same inputs (cached tarballs; must give the same id) and the archive's size.
 * `bun bench/bundle.ts`.
 */
import { readFile } from "node:fs/promises";
import {
  BUN_VERSION,
  CLAUDE_CODE_VERSION,
  createBundleWorld,
  standInPackages,
} from "../harness/bundle/world.ts";
import type { RegistryPackage } from "../sim/bundle/registry.ts";
import { readProcesses, treeCpuMs } from "./support/cpu-time.ts";
import { type BenchFigure, figure, printFigures } from "./support/figures.ts";

const MB = 1_000_000;

async function registryPackages(claudeBinary: string | undefined): Promise<RegistryPackage[]> {
  const bun = await readFile(process.execPath);
  const claude = claudeBinary === undefined ? undefined : await readFile(claudeBinary);
  return (await standInPackages()).map((pkg) => {
    if (pkg.name === "@oven/bun-linux-x64") {
      return { ...pkg, files: [{ path: "bin/bun", content: bun, executable: true }] };
    }
    if (pkg.name === "@anthropic-ai/claude-code-linux-x64" && claude !== undefined) {
      return { ...pkg, files: [{ path: "claude", content: claude, executable: true }] };
    }
    return pkg;
  });
}

interface Timed<T> {
  result: T;
  seconds: number;
  /** CPU of this process and the tools it ran (git, bun install, tar, gzip): wall time on a busy machine misleads. */
  cpuSeconds: number;
}

async function timed<T>(work: () => Promise<T>): Promise<Timed<T>> {
  const cpu = () => treeCpuMs(readProcesses(), process.pid);
  const [started, startedCpu] = [performance.now(), cpu()];
  const result = await work();
  return { result, seconds: (performance.now() - started) / 1000, cpuSeconds: (cpu() - startedCpu) / 1000 };
}

export async function runBundleBench(claudeBinary: string | undefined): Promise<BenchFigure[]> {
  const world = await createBundleWorld({ packages: await registryPackages(claudeBinary) });
  try {
    const cold = await timed(() => world.build("x64"));
    // Delete it so the rebuild really packs again rather than finding it; the download cache stays.
    await world.store.prune("x64", 0, new Set());
    const warm = await timed(() => world.build("x64"));
    return [
      figure("cold build (download, install, pack), wall", cold.seconds, "s"),
      figure("cold build, CPU", cold.cpuSeconds, "s"),
      figure("rebuild, same inputs (tarballs cached), wall", warm.seconds, "s"),
      figure("rebuild, CPU", warm.cpuSeconds, "s"),
      figure("bundle size (tar.gz)", cold.result.manifest.sizeBytes / MB, "MB"),
      figure(
        "rebuilds with a different id",
        warm.result.manifest.id === cold.result.manifest.id ? 0 : 1,
        "",
        0,
      ),
    ];
  } finally {
    await world.close();
  }
}

if (import.meta.main) {
  const claudeBinary = process.env.BENCH_CLAUDE_CODE_BINARY || undefined;
  const cli =
    claudeBinary === undefined
      ? "a stand-in Claude Code"
      : `Claude Code ${CLAUDE_CODE_VERSION} (${claudeBinary})`;
  const met = printFigures(
    `bundle build: Bun ${Bun.version} (this machine's, as ${BUN_VERSION}'s package), ${cli}, stand-in app`,
    await runBundleBench(claudeBinary),
  );
  process.exit(met ? 0 : 1);
}
