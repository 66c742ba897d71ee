import { existsSync, lstatSync, readlinkSync } from "node:fs";
import { chmod, chown, lchown, mkdir, readdir, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";

/** The host directories bind-mounted read-only into every sandbox (or mirrored as symlinks on merged-/usr hosts). */
export const HOST_PROGRAM_DIRS = ["usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32"];
export const DEVICES = ["null", "zero", "full", "random", "urandom"];
/** PATH tools the box gets, each its file in ../shims/: what a stock image has and the stand-in fakes. */
const SHIMS = ["sudo", "chown", "systemctl", "journalctl", "cloud-init", "curl"];
const SHIM_DIR = new URL("../shims/", import.meta.url);
/** Files under /opt/sim/lib, each mapped to its source in sim/machine: what the shims and the service manager source. */
const LIB_FILES: Record<string, string> = {
  "sim-units.sh": "services/units.sh",
  "sim-passwd.sh": "shims/passwd.sh",
  "systemd-supervisor.sh": "services/supervisor.sh",
};
const MACHINE_DIR = new URL("../", import.meta.url);
/** Where the box finds the host's real curl (bind-mounted read-only), relative to its root. */
export const REAL_CURL = "opt/sim/lib/curl";

/** PATH inside the box: the simulated tools shadow the host's real ones. */
export const SANDBOX_PATH = "/opt/sim/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** The login shell users get: bash when the host has it, like a stock Debian/Ubuntu image. */
export const LOGIN_SHELL = existsSync("/bin/bash") ? "/bin/bash" : "/bin/sh";

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
  for (const dir of [
    "dev",
    "proc",
    "etc/sudoers.d",
    "etc/systemd/system",
    "home",
    "root",
    "run",
    "var/log",
    "var/lib/cloud/instance",
    "opt/sim/bin",
    "opt/sim/lib",
    "opt/sim/usr-local/bin",
    "opt/sim/usr-local/lib",
    "opt/sim/usr-local/sbin",
    "opt/sim/usr-local/share",
    "run/sim-egress",
  ]) {
    await mkdir(join(rootDir, dir), { recursive: true });
  }
  // The mount point of the host's real curl (mounts.ts), which the curl shim runs towards the control plane.
  await writeFile(join(rootDir, REAL_CURL), "");
  await writeDevices(rootDir);
  await writeEtc(rootDir, hostname);
  await installShims(join(rootDir, "opt/sim/bin"));
  await installLibFiles(join(rootDir, "opt/sim/lib"));
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
  await etc(
    "passwd",
    `root:x:0:0:root:/root:${LOGIN_SHELL}\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n`,
  );
  await etc("group", "root:x:0:\nsudo:x:27:\nusers:x:100:\nnogroup:x:65534:\n");
  await etc("hostname", `${hostname}\n`);
  await etc("hosts", `127.0.0.1 localhost\n127.0.1.1 ${hostname}\n`);
  await etc("nsswitch.conf", "passwd: files\ngroup: files\nshadow: files\nhosts: files\n");
  if (existsSync("/usr/lib/os-release"))
    await symlink("../usr/lib/os-release", join(rootDir, "etc/os-release"));
}

async function installShims(binDir: string): Promise<void> {
  for (const tool of SHIMS) {
    const target = join(binDir, tool);
    await Bun.write(target, Bun.file(new URL(tool, SHIM_DIR)));
    await chmod(target, 0o755);
  }
}

async function installLibFiles(libDir: string): Promise<void> {
  for (const [file, source] of Object.entries(LIB_FILES)) {
    const target = join(libDir, file);
    await Bun.write(target, Bun.file(new URL(source, MACHINE_DIR)));
    await chmod(target, 0o755);
  }
}

async function chownTree(dir: string, owner: number): Promise<void> {
  await chown(dir, owner, owner);
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) await chownTree(path, owner);
    else await lchown(path, owner, owner);
  }
}
