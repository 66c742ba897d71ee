import { existsSync, lstatSync, statSync } from "node:fs";
import { readdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { DEVICES, HOST_PROGRAM_DIRS, REAL_CURL } from "./layout.ts";

/**
 * The box's mounts, as two fstab(5) lists that namespace.sh hands to `mount -a` (one process per list
 * instead of one per mount: every process costs the host a millisecond, and a machine needs a score of
 * mounts). Written by the simulator into the box's /run before the holder starts, when no process of
 * the box has ever run, and removed once the holder is ready, before any command of the box runs.
 */
export const MOUNT_LISTS = {
  /** Mounted before the pivot: every source is the host's own (or the new root itself). */
  host: "run/sim-mounts-host",
  /** Mounted after the pivot, so that sources under the box's control resolve inside the box. */
  box: "run/sim-mounts-box",
} as const;

/** Writes both lists for the box at `rootDir` (a fresh layout from `createSandboxLayout`). */
export async function writeMountLists(rootDir: string): Promise<void> {
  await writeFile(join(rootDir, MOUNT_LISTS.host), hostMounts(rootDir));
  await writeFile(join(rootDir, MOUNT_LISTS.box), await boxMounts(rootDir));
}

/** Removes both lists; a missing one is fine. */
export async function removeMountLists(rootDir: string): Promise<void> {
  await rm(join(rootDir, MOUNT_LISTS.host), { force: true });
  await rm(join(rootDir, MOUNT_LISTS.box), { force: true });
}

function hostMounts(rootDir: string): string {
  const root = fstabPath(rootDir);
  // pivot_root needs the new root to be a mount point, so it comes first (mount -a keeps the order).
  const lines = [entry(root, root, "none", "bind")];
  // The host's programs, read-only and without setuid: the box can run them but not change them.
  for (const dir of [...HOST_PROGRAM_DIRS, "etc/alternatives"]) {
    if (isRealDirectory(`/${dir}`) && isRealDirectory(join(rootDir, dir))) {
      lines.push(entry(`/${dir}`, `${root}/${dir}`, "none", "bind,ro,nosuid,nodev"));
    }
  }
  for (const device of DEVICES) lines.push(entry(`/dev/${device}`, `${root}/dev/${device}`, "none", "bind"));
  // The shim shadows /usr/bin/curl; the real one stays reachable for fetches from the control plane.
  if (existsSync("/usr/bin/curl") && existsSync(join(rootDir, REAL_CURL))) {
    lines.push(entry("/usr/bin/curl", `${root}/${REAL_CURL}`, "none", "bind,ro,nosuid,nodev"));
  }
  lines.push(entry("proc", `${root}/proc`, "proc", "nosuid,nodev,noexec"));
  return lines.join("");
}

async function boxMounts(rootDir: string): Promise<string> {
  const lines: string[] = [];
  // /usr/local is the box's own, writable (first-boot scripts install there), and starts empty as on a
  // fresh image; in the box, /usr/local is the host's (under its /usr).
  if (isRealDirectory(join(rootDir, "opt/sim/usr-local")) && isRealDirectory("/usr/local")) {
    lines.push(entry("/opt/sim/usr-local", "/usr/local", "none", "bind"));
  }
  // The simulated tools also answer at the host's own paths (/usr/bin/systemctl ...), where those exist.
  for (const tool of (await readdir(join(rootDir, "opt/sim/bin"))).sort()) {
    if (!/^[A-Za-z0-9._-]+$/.test(tool) || !lstatSync(join(rootDir, "opt/sim/bin", tool)).isFile()) continue;
    if (existsSync(`/usr/bin/${tool}`) && statSync(`/usr/bin/${tool}`).isFile()) {
      lines.push(entry(`/opt/sim/bin/${tool}`, `/usr/bin/${tool}`, "none", "bind"));
    }
  }
  return lines.join("");
}

function entry(source: string, target: string, type: string, options: string): string {
  return `${source} ${target} ${type} ${options} 0 0\n`;
}

/** A directory, not a symlink to one. */
function isRealDirectory(path: string): boolean {
  return existsSync(path) && lstatSync(path).isDirectory();
}

/** `path` as a field of fstab(5): blanks and backslashes as octal escapes. */
function fstabPath(path: string): string {
  return path.replace(/[\\ \t\n]/g, (char) => `\\${char.charCodeAt(0).toString(8).padStart(3, "0")}`);
}
