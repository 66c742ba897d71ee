import { existsSync, lstatSync, readlinkSync } from "node:fs";
import { chmod, chown, lchown, mkdir, readdir, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";

/** The host directories bind-mounted read-only into every sandbox (or mirrored as symlinks on merged-/usr hosts). */
export const HOST_PROGRAM_DIRS = ["usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32"];
export const DEVICES = ["null", "zero", "full", "random", "urandom"];
/** What the stand-in puts in a fresh box, by path in the box: its tools (first in PATH) and what they source. */
const BOX_FILES: Record<string, string> = {
  ...Object.fromEntries(
    ["sudo", "chown", "systemctl", "journalctl", "cloud-init", "curl"].map((tool) => [
      `opt/sim/bin/${tool}`,
      `shims/${tool}`,
    ]),
  ),
  "opt/sim/lib/sim-units.sh": "services/units.sh",
  "opt/sim/lib/systemd-supervisor.sh": "services/supervisor.sh",
};
/** The directories of a fresh box; /opt/sim/usr-local becomes its /usr/local (mounts.ts). */
const BOX_DIRS =
  "dev proc etc/sudoers.d etc/systemd/system home root run run/sim-egress var/log var/lib/cloud/instance opt/sim/bin opt/sim/lib opt/sim/usr-local/bin opt/sim/usr-local/lib opt/sim/usr-local/sbin opt/sim/usr-local/share";

/** PATH inside the box: the simulated tools shadow the host's real ones (found by name, not by path). */
export const SANDBOX_PATH = "/opt/sim/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** The login shell users get: bash when the host has it, like a stock Debian/Ubuntu image. */
export const LOGIN_SHELL = existsSync("/bin/bash") ? "/bin/bash" : "/bin/sh";

/** A fresh box's /etc/passwd and /etc/group, which cloud-init's users module starts from. */
export const FRESH_ACCOUNTS = {
  passwd: `root:x:0:0:root:/root:${LOGIN_SHELL}\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n`,
  group: "root:x:0:\nsudo:x:27:\nusers:x:100:\nnogroup:x:65534:\n",
};

/**
 * Creates the skeleton of a fresh machine's root filesystem in `rootDir`, owned by `owner` (the uid the
 * sandbox runs as) so the box can write its own files. Written before any sandboxed process exists, so
 * nothing inside can have planted symlinks yet.
 */
export async function createSandboxLayout(
  rootDir: string,
  hostname: string,
  owner: number | null,
): Promise<void> {
  await mkdir(rootDir, { recursive: true });
  await mirrorHostProgramDirs(rootDir);
  for (const dir of BOX_DIRS.split(" ")) await mkdir(join(rootDir, dir), { recursive: true });
  await writeDevices(rootDir);
  await writeEtc(rootDir, hostname);
  for (const [path, source] of Object.entries(BOX_FILES)) {
    await Bun.write(join(rootDir, path), Bun.file(new URL(`../${source}`, import.meta.url)));
    await chmod(join(rootDir, path), 0o755);
  }
  await mkdir(join(rootDir, "tmp"), { recursive: true });
  await chmod(join(rootDir, "tmp"), 0o1777);
  await chmod(join(rootDir, "root"), 0o700);
  if (owner !== null) await chownTree(rootDir, owner);
}

async function mirrorHostProgramDirs(rootDir: string): Promise<void> {
  for (const dir of [...HOST_PROGRAM_DIRS, "etc/alternatives"]) {
    const hostPath = `/${dir}`;
    if (!existsSync(hostPath)) continue;
    const target = join(rootDir, dir);
    if (lstatSync(hostPath).isSymbolicLink()) await symlink(readlinkSync(hostPath), target);
    else await mkdir(target, { recursive: true });
  }
}

async function writeDevices(rootDir: string): Promise<void> {
  for (const device of DEVICES) await writeFile(join(rootDir, "dev", device), "");
  await symlink("/proc/self/fd", join(rootDir, "dev/fd"));
  for (const [index, stream] of ["stdin", "stdout", "stderr"].entries()) {
    await symlink(`/proc/self/fd/${index}`, join(rootDir, "dev", stream));
  }
}

async function writeEtc(rootDir: string, hostname: string): Promise<void> {
  const etc = (name: string, text: string) => writeFile(join(rootDir, "etc", name), text);
  await etc("passwd", FRESH_ACCOUNTS.passwd);
  await etc("group", FRESH_ACCOUNTS.group);
  await etc("hostname", `${hostname}\n`);
  await etc("hosts", `127.0.0.1 localhost\n127.0.1.1 ${hostname}\n`);
  await etc("nsswitch.conf", "passwd: files\ngroup: files\nshadow: files\nhosts: files\n");
  if (existsSync("/usr/lib/os-release"))
    await symlink("../usr/lib/os-release", join(rootDir, "etc/os-release"));
}

async function chownTree(dir: string, owner: number): Promise<void> {
  await chown(dir, owner, owner);
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) await chownTree(path, owner);
    else await lchown(path, owner, owner);
  }
}
