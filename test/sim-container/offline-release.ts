/**
 * A local release of the provisioner for a box without internet: this checkout's files (as install.sh takes
 * them from a checkout) with their production node_modules, in a tarball of one top directory; and the
 * pinned Bun binary beside it (this very bun, which runs the pinned version), for install.sh's --bun.
 */
import { join, resolve } from "node:path";
import { runCommand } from "../support/run-command.ts";

const REPO = resolve(import.meta.dir, "../..");
const TOP = "rachel-provisioner";

async function must(argv: string[], cwd?: string): Promise<void> {
  const result = await runCommand(["sh", "-c", ...argv], { cwd });
  if (result.exitCode !== 0) throw new Error(`${argv[0]} failed (${result.exitCode}): ${result.stderr}`);
}

/** Packs the release under `workDir`; returns the tarball's and the Bun binary's paths. */
export async function packOfflineRelease(workDir: string): Promise<{ tarball: string; bun: string }> {
  const stage = join(workDir, TOP);
  const tarball = join(workDir, `${TOP}.tar.gz`);
  await must(
    [
      'mkdir -p "$1" && git ls-files -z --cached --others --exclude-standard | tar --null -T - --ignore-failed-read -cf - 2>/dev/null | tar -xf - -C "$1"',
      "sh",
      stage,
    ],
    REPO,
  );
  // Copies, not hard links into Bun's cache: another install linking the same file changes its ctime, which
  // makes tar fail with "file changed as we read it".
  await must(
    [`"${process.execPath}" install --frozen-lockfile --production --silent --backend=copyfile`],
    stage,
  );
  await must(['tar -czf "$1" -C "$2" "$3"', "sh", tarball, workDir, TOP]);
  return { tarball, bun: process.execPath };
}
