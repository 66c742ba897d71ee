/**
 * The Debian 13 root filesystem every container machine boots from: built once with debootstrap and
 * cached under `<cacheDir>/rootfs-<key>`, where the key hashes everything that decides its content
 * (suite, variant, package list, recipe). Built in a scratch directory and renamed into place, so a
 * crashed or concurrent build never leaves a half-made root that looks finished.
 */
import { createHash, randomBytes } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { mkdir, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { run } from "./command.ts";
import { ContainerHostError } from "./errors.ts";

/**
 * What a Hetzner image brings that our first boot relies on (python3-cffi-backend: debootstrap cannot
 * resolve it alone), plus caddy for the control-plane box (its installer's one package; the lab has no
 * mirror), installed but never started on a customer's machine.
 */
export const ROOTFS_PACKAGES = [
  "systemd",
  "systemd-sysv",
  "dbus",
  "cloud-init",
  "python3-cffi-backend",
  "openssh-server",
  "sudo",
  "curl",
  "ca-certificates",
  "iproute2",
  "caddy",
] as const;

const SUITE = "trixie";
const VARIANT = "minbase";
/** Bump when the post-build steps below change what the root contains. */
const RECIPE = 2;
/** Units the packages enable that a fresh Hetzner image would not run. */
const DISABLED_UNITS = ["caddy.service"];

export const DEFAULT_ROOTFS_CACHE_DIR = "/var/cache/rachel-sim";
const DEFAULT_MIRROR = "http://deb.debian.org/debian";
const SOURCES_FILE = "/etc/apt/sources.list.d/debian.sources";

export interface RootfsOptions {
  /** Where built roots are kept (default /var/cache/rachel-sim). */
  cacheDir?: string;
  /** Debian mirror (default: the host's own, from debian.sources, else deb.debian.org). */
  mirror?: string;
  /** Receives one line per build stage; default: a progress line on stderr. */
  onProgress?: (line: string) => void;
}

/** The cache key: a hash of everything that decides the root's content (not the mirror it came from). */
export function rootfsKey(packages: readonly string[] = ROOTFS_PACKAGES): string {
  const recipe = JSON.stringify({ suite: SUITE, variant: VARIANT, packages: [...packages].sort(), RECIPE });
  return createHash("sha256").update(recipe).digest("hex").slice(0, 16);
}

export function rootfsPath(cacheDir = DEFAULT_ROOTFS_CACHE_DIR): string {
  return join(cacheDir, `rootfs-${rootfsKey()}`);
}

/** The first URIs of the host's Debian sources (as .ci/install-tools reads it), else deb.debian.org. */
export function hostDebianMirror(): string {
  if (!existsSync(SOURCES_FILE)) return DEFAULT_MIRROR;
  const uri = /^URIs:\s*(\S+)/m.exec(readFileSync(SOURCES_FILE, "utf8"));
  return uri?.[1] ?? DEFAULT_MIRROR;
}

/** Marker written last inside a finished root; a root without it is never used. */
const COMPLETE_MARKER = "etc/rachel-sim-rootfs";

/** The cached root's path, building it first when it is missing (about a minute and 400 MB). */
export async function ensureRootfs(options: RootfsOptions = {}): Promise<string> {
  const cacheDir = options.cacheDir ?? DEFAULT_ROOTFS_CACHE_DIR;
  const root = rootfsPath(cacheDir);
  if (existsSync(join(root, COMPLETE_MARKER))) return root;
  await mkdir(cacheDir, { recursive: true });
  const scratch = join(cacheDir, `.build-${rootfsKey()}-${process.pid}-${randomBytes(4).toString("hex")}`);
  const progress = options.onProgress ?? stderrProgress();
  try {
    await debootstrap(scratch, options.mirror ?? hostDebianMirror(), progress);
    await finishRoot(scratch);
    await rename(scratch, root).catch(async (error: NodeJS.ErrnoException) => {
      // Another build finished first: its root is as good as ours.
      if (!existsSync(join(root, COMPLETE_MARKER))) throw error;
    });
    progress(`root filesystem ready: ${root}`);
    return root;
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

async function debootstrap(target: string, mirror: string, progress: (line: string) => void): Promise<void> {
  const started = performance.now();
  const args = [
    "debootstrap",
    `--variant=${VARIANT}`,
    `--include=${ROOTFS_PACKAGES.join(",")}`,
    SUITE,
    target,
    mirror,
  ];
  progress(`building the Debian 13 root filesystem (first time only, about a minute): ${args.join(" ")}`);
  const child = Bun.spawn(args, { stdout: "pipe", stderr: "pipe" });
  const tail: string[] = [];
  const readLines = async (stream: ReadableStream<Uint8Array>, show: boolean) => {
    let pending = "";
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      pending += chunk;
      const lines = pending.split("\n");
      pending = lines.pop() ?? "";
      for (const line of lines) {
        tail.push(line);
        if (tail.length > 20) tail.shift();
        const seconds = ((performance.now() - started) / 1000).toFixed(0);
        if (show && line.startsWith("I: ")) progress(`[${seconds}s] ${line.slice(3)}`);
      }
    }
  };
  await Promise.all([readLines(child.stdout, true), readLines(child.stderr, false)]);
  const code = await child.exited;
  if (code !== 0)
    throw new ContainerHostError(
      "rootfs_build_failed",
      `debootstrap exited ${code} building ${target}:\n${tail.join("\n")}`,
    );
}

/**
 * What makes the root an image rather than one machine: no host keys, machine id or package
 * downloads of its own. Real cloud-init generates each container's host keys at its first boot.
 */
async function finishRoot(root: string): Promise<void> {
  const ssh = join(root, "etc/ssh");
  for (const type of ["rsa", "ecdsa", "ed25519"]) {
    await rm(join(ssh, `ssh_host_${type}_key`), { force: true });
    await rm(join(ssh, `ssh_host_${type}_key.pub`), { force: true });
  }
  await writeFile(join(root, "etc/machine-id"), "");
  await run(["systemctl", `--root=${root}`, "disable", "--quiet", ...DISABLED_UNITS]);
  await rm(join(root, "var/cache/apt/archives"), { recursive: true, force: true });
  await mkdir(join(root, "var/cache/apt/archives/partial"), { recursive: true });
  await writeFile(
    join(root, COMPLETE_MARKER),
    `${JSON.stringify({ suite: SUITE, packages: ROOTFS_PACKAGES, recipe: RECIPE })}\n`,
  );
}

/** Seconds between plain progress lines when stderr is not a terminal (CI logs). */
const PLAIN_PROGRESS_EVERY_MS = 10_000;

/** One self-overwriting line on a terminal; in a log, a line every 10 s and every message that is not a stage. */
function stderrProgress(): (line: string) => void {
  const tty = process.stderr.isTTY;
  let lastPlainAt = 0;
  return (line) => {
    const stage = line.startsWith("[");
    if (tty) {
      process.stderr.write(`\r\x1b[2Krootfs: ${line.slice(0, (process.stderr.columns ?? 100) - 9)}`);
      if (!stage) process.stderr.write("\n");
      return;
    }
    if (stage && performance.now() - lastPlainAt < PLAIN_PROGRESS_EVERY_MS) return;
    lastPlainAt = performance.now();
    process.stderr.write(`rootfs: ${line}\n`);
  };
}
