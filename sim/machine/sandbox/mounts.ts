import { existsSync, lstatSync } from "node:fs";
import { join } from "node:path";
import { DEVICES, HOST_PROGRAM_DIRS } from "./layout.ts";

/**
 * The box's mounts, as the arguments namespace.sh takes: "SOURCE TARGET OPTIONS" triples, a bind mount each
 * ("proc" as the source mounts a /proc), the host's before "--" (mounted before the pivot: every source is
 * the host's own, or the new root itself) and the box's own after it (mounted after the pivot, so that
 * sources under the box's control resolve inside the box).
 */
export function mountArguments(rootDir: string): string[] {
  // pivot_root needs the new root to be a mount point, so it comes first.
  const host = [rootDir, rootDir, "rw"];
  // The host's programs, read-only and without setuid: the box can run them but not change them.
  for (const dir of [...HOST_PROGRAM_DIRS, "etc/alternatives"]) {
    if (isRealDirectory(`/${dir}`) && isRealDirectory(join(rootDir, dir))) {
      host.push(`/${dir}`, `${rootDir}/${dir}`, "ro,nosuid,nodev");
    }
  }
  for (const device of DEVICES) host.push(`/dev/${device}`, `${rootDir}/dev/${device}`, "rw");
  host.push("proc", `${rootDir}/proc`, "nosuid,nodev,noexec");
  // /usr/local is the box's own, writable, and starts empty as on a fresh image (the host's is under its /usr).
  const box = isRealDirectory("/usr/local") ? ["/opt/sim/usr-local", "/usr/local", "rw"] : [];
  return [...host, "--", ...box];
}

/** A directory, not a symlink to one. */
function isRealDirectory(path: string): boolean {
  return existsSync(path) && lstatSync(path).isDirectory();
}
