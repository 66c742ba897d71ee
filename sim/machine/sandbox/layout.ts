import { existsSync, lstatSync, readlinkSync } from "node:fs";
import { chmod, chown, lchown, mkdir, readdir, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";

/** The host directories bind-mounted read-only into every sandbox (or mirrored as symlinks on merged-/usr hosts). */
export const HOST_PROGRAM_DIRS = ["usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32"];
export const DEVICES = ["null", "zero", "full", "random", "urandom"];
/** PATH tools the box gets, each name mapped to its file in ../shims/ (apt is apt-get). */
const SHIMS: Record<string, string> = {
  sudo: "sudo",
  chown: "chown",
  runuser: "runuser",
  systemctl: "systemctl",
  journalctl: "journalctl",
  "cloud-init": "cloud-init",
  "apt-get": "apt-get",
  apt: "apt-get",
  "dpkg-query": "dpkg-query",
  curl: "curl",
  git: "git",
};
const SHIM_DIR = new URL("../shims/", import.meta.url);
/**
 * Files under /opt/sim/lib, each mapped to its source in sim/machine: the service manager and what the
 * offline tools serve (the Bun installer, the simulated bun, the Rachel8 checkout).
 */
const LIB_FILES: Record<string, string> = {
  "sim-units.sh": "services/units.sh",
  "sim-passwd.sh": "shims/passwd.sh",
  "systemd-supervisor.sh": "services/supervisor.sh",
  "sim-unit-clock.bash": "services/unit-clock.bash",
  "bun-installer.sh": "offline/bun-installer.sh",
  bun: "offline/bun",
  "rachel8.sh": "offline/rachel8/rachel8.sh",
  "rachel8/package.json": "offline/rachel8/package.json",
  "rachel8/src/index.ts": "offline/rachel8/src/index.ts",
};
const MACHINE_DIR = new URL("../", import.meta.url);
/** Where the box finds the host's real curl (bind-mounted read-only), relative to its root. */
export const REAL_CURL = "opt/sim/lib/curl";
/** The stand-in Claude Code CLI, where Rachel8 looks for it (/usr/local/bin/claude), until the app bundle ships it. */
const CLAUDE_CLI = { source: "offline/claude", target: "opt/sim/usr-local/bin/claude" } as const;

export interface SandboxLayoutOptions {
  /** Installs the stand-in `claude` at /usr/local/bin; default true (false: a box without the CLI). */
  claudeCli?: boolean;
}

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
  options: SandboxLayoutOptions = {},
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
    "opt/sim/lib/rachel8/src",
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
  if (options.claudeCli ?? true) {
    await Bun.write(join(rootDir, CLAUDE_CLI.target), Bun.file(new URL(CLAUDE_CLI.source, MACHINE_DIR)));
    await chmod(join(rootDir, CLAUDE_CLI.target), 0o755);
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
  for (const [tool, file] of Object.entries(SHIMS)) {
    const target = join(binDir, tool);
    await Bun.write(target, Bun.file(new URL(file, SHIM_DIR)));
    await chmod(target, 0o755);
  }
}

async function installLibFiles(libDir: string): Promise<void> {
  for (const [file, source] of Object.entries(LIB_FILES)) {
    const target = join(libDir, file);
    await Bun.write(target, Bun.file(new URL(source, MACHINE_DIR)));
    await chmod(target, file.endsWith(".json") || file.endsWith(".ts") ? 0o644 : 0o755);
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
