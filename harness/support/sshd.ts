/**
 * A real OpenSSH sshd on a free 127.0.0.1 port, for tests: a temp ed25519 host key, a dedicated throwaway
 * user (home in a temp dir, passwordless sudo through a sudoers.d drop-in) and its own client key pair.
 * Needs root (to create the user) and `apt-get install -y openssh-server sudo`.
 */
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { chmod, chown, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { utils } from "ssh2";
import { generateSshKeyPair, type SshKeyPair } from "../../core/ssh-keygen.ts";
import { findFreePort } from "../../sim/free-port.ts";

const SSHD = "/usr/sbin/sshd";
const SUDO = "/usr/bin/sudo";
const START_DEADLINE_MS = 10_000;
const BIND_ATTEMPTS = 5;
const BASE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

export interface TestSshUser {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

export interface TestSshd {
  host: string;
  port: number;
  user: TestSshUser;
  /** OpenSSH public line of the server's host key (`ssh-ed25519 AAAA… test-sshd` by default). */
  hostKey: string;
  /** OpenSSH private key whose public half is in the user's authorized_keys. */
  clientPrivateKey: string;
  /** sshd's log lines so far (LogLevel DEBUG1, so every authentication request and session shows). */
  log(): string[];
  /** Resolves with the first log line matching `pattern`, polling until `timeoutMs`. */
  waitForLog(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** Stops sshd, deletes the user, its sudoers drop-in and every temp file; idempotent. */
  stop(): Promise<void>;
}

export interface StartSshdOptions {
  /** The server's only host key type; default "ed25519" (what cloud-init reports and we pin). */
  hostKeyType?: "ed25519" | "rsa";
  /** Directories put before the system PATH in the user's sessions and under sudo (e.g. tool shims). */
  pathPrefix?: string[];
}

/** Why a real sshd cannot run here, or null when it can. */
export function sshdUnavailableReason(): string | null {
  if (process.getuid?.() !== 0) return "not root (the test sshd creates a throwaway user)";
  if (!existsSync(SSHD)) return `${SSHD} is missing (apt-get install -y openssh-server)`;
  if (!existsSync(SUDO)) return `${SUDO} is missing (apt-get install -y sudo)`;
  return null;
}

/** True when sshd tests should run; false (with a warning) outside CI; throws in CI so a missing sshd fails. */
export function sshdTestsEnabled(env: Readonly<Record<string, string | undefined>>): boolean {
  const reason = sshdUnavailableReason();
  if (reason === null) return true;
  if (env.CI === "true") throw new Error(`real sshd required in CI: ${reason}`);
  console.warn(`skipping real-sshd tests: ${reason}`);
  return false;
}

/** Runs a setup command; shadow-utils tools fail on a held /etc/passwd lock (a concurrent useradd), so retry those. */
async function run(argv: string[]): Promise<string> {
  const deadline = Date.now() + START_DEADLINE_MS;
  for (;;) {
    const result = spawnSync(argv[0] ?? "", argv.slice(1), { encoding: "utf8" });
    if (result.status === 0) return result.stdout;
    if (!/lock/i.test(result.stderr) || Date.now() > deadline) {
      throw new Error(`${argv.join(" ")} failed: ${result.stderr || result.error}`);
    }
    await Bun.sleep(50);
  }
}

/** PIDs owned by `uid`: what this test's sessions left running (only this throwaway user's). */
function processesOf(uid: number): number[] {
  return readdirSync("/proc")
    .filter((entry) => /^\d+$/.test(entry))
    .filter((pid) => {
      try {
        return new RegExp(`^Uid:\\s+${uid}\\s`, "m").test(readFileSync(`/proc/${pid}/status`, "utf8"));
      } catch {
        return false; // exited while we looked
      }
    })
    .map(Number);
}

function killQuietly(pid: number): void {
  try {
    process.kill(pid, "SIGKILL");
  } catch {
    // Already exited: nothing to stop.
  }
}

/** userdel refuses while the user has processes: kill this user's leftovers by pid, then retry, bounded. */
async function deleteUser(name: string, uid: number): Promise<void> {
  const deadline = Date.now() + START_DEADLINE_MS;
  for (;;) {
    for (const pid of processesOf(uid)) killQuietly(pid);
    const result = spawnSync("userdel", [name], { encoding: "utf8" });
    if (result.status === 0 || result.stderr.includes("does not exist")) return;
    // Busy (leftover processes still exiting) or a concurrent lock on /etc/passwd: both pass; retry.
    if (Date.now() > deadline) throw new Error(`userdel ${name} failed: ${result.stderr}`);
    await Bun.sleep(20);
  }
}

async function createUser(rootDir: string, pathPrefix: string[]): Promise<TestSshUser & { sudoers: string }> {
  const name = `rtest-${randomBytes(4).toString("hex")}`;
  const home = join(rootDir, "home");
  await run([
    "useradd",
    "--no-create-home",
    "--home-dir",
    home,
    "--shell",
    "/bin/bash",
    "--user-group",
    name,
  ]);
  // With UsePAM no, sshd refuses a locked account ("!" password); "*" is unlocked but has no password.
  await run(["usermod", "-p", "*", name]);
  const uid = Number((await run(["id", "-u", name])).trim());
  const gid = Number((await run(["id", "-g", name])).trim());
  await mkdir(join(home, ".ssh"), { recursive: true, mode: 0o700 });
  await chown(home, uid, gid);
  await chmod(home, 0o700);
  await chown(join(home, ".ssh"), uid, gid);
  const sudoers = `/etc/sudoers.d/${name}`;
  const securePath =
    pathPrefix.length > 0 ? `Defaults:${name} secure_path="${[...pathPrefix, BASE_PATH].join(":")}"\n` : "";
  await writeFile(sudoers, `${name} ALL=(ALL) NOPASSWD:ALL\n${securePath}`, { mode: 0o440 });
  await run(["visudo", "-c", "-f", sudoers]);
  return { name, uid, gid, home, sudoers };
}

function sshdConfig(dir: string, port: number, user: string, pathPrefix: string[]): string {
  return [
    `Port ${port}`,
    "ListenAddress 127.0.0.1",
    `HostKey ${join(dir, "host_key")}`,
    `PidFile ${join(dir, "sshd.pid")}`,
    "UsePAM no",
    `AllowUsers ${user}`,
    "PubkeyAuthentication yes",
    "PasswordAuthentication no",
    "KbdInteractiveAuthentication no",
    "PermitRootLogin no",
    "StrictModes yes",
    "LogLevel DEBUG1",
    `SetEnv PATH=${[...pathPrefix, BASE_PATH].join(":")}`,
    "",
  ].join("\n");
}

/** Spawns sshd and waits for "Server listening"; null when the port was taken meanwhile. */
async function spawnSshd(configPath: string, lines: string[]): Promise<Subprocess | null> {
  const proc = Bun.spawn([SSHD, "-D", "-e", "-f", configPath], {
    stdin: "ignore",
    stdout: "ignore",
    stderr: "pipe",
  });
  void collectLines(proc.stderr, lines);
  const deadline = Date.now() + START_DEADLINE_MS;
  while (Date.now() < deadline) {
    if (lines.some((line) => line.includes("Server listening on 127.0.0.1"))) return proc;
    if (proc.exitCode !== null) {
      if (lines.some((line) => /Bind to port|Address already in use/.test(line))) return null;
      throw new Error(`sshd exited ${proc.exitCode}: ${lines.join("\n")}`);
    }
    await Bun.sleep(20);
  }
  proc.kill();
  throw new Error(`sshd did not listen within ${START_DEADLINE_MS} ms: ${lines.join("\n")}`);
}

async function collectLines(stream: ReadableStream<Uint8Array>, lines: string[]): Promise<void> {
  const decoder = new TextDecoder();
  let pending = "";
  for await (const chunk of stream) {
    pending += decoder.decode(chunk, { stream: true });
    const parts = pending.split("\n");
    pending = parts.pop() ?? "";
    lines.push(...parts);
  }
  if (pending) lines.push(pending);
}

function hostKeyPair(type: "ed25519" | "rsa"): SshKeyPair {
  if (type === "ed25519") return generateSshKeyPair("test-sshd");
  const rsa = utils.generateKeyPairSync("rsa", { bits: 2048, comment: "test-sshd" });
  return { privateKey: rsa.private, publicKey: rsa.public };
}

/** Polls the collected lines for `pattern` until `timeoutMs`. */
async function pollLog(lines: readonly string[], pattern: RegExp, timeoutMs: number): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const hit = lines.find((line) => pattern.test(line));
    if (hit !== undefined) return hit;
    if (Date.now() > deadline) throw new Error(`sshd never logged ${pattern} within ${timeoutMs} ms`);
    await Bun.sleep(20);
  }
}

/** Picks a free port and starts sshd on it, trying again when another process grabbed the port first. */
async function listenOnFreePort(
  dir: string,
  user: string,
  pathPrefix: string[],
  lines: string[],
): Promise<{ proc: Subprocess; port: number }> {
  for (let attempt = 0; attempt < BIND_ATTEMPTS; attempt++) {
    const port = await findFreePort();
    const configPath = join(dir, "sshd_config");
    await writeFile(configPath, sshdConfig(dir, port, user, pathPrefix), { mode: 0o600 });
    lines.length = 0;
    const proc = await spawnSshd(configPath, lines);
    if (proc !== null) return { proc, port };
  }
  throw new Error(`sshd could not bind a free port in ${BIND_ATTEMPTS} attempts`);
}

/** If the test process dies without stop(), its sshd must not outlive it. */
const liveSshds = new Set<Subprocess>();
process.on("exit", () => {
  for (const proc of liveSshds) proc.kill("SIGKILL");
});

export async function startSshd(opts: StartSshdOptions = {}): Promise<TestSshd> {
  const pathPrefix = opts.pathPrefix ?? [];
  const dir = await mkdtemp(join(tmpdir(), "rachel-sshd-"));
  // The user must traverse to its home; sshd's StrictModes refuses group/world-writable paths.
  await chmod(dir, 0o755);
  const user = await createUser(dir, pathPrefix);
  const lines: string[] = [];
  let running: { proc: Subprocess; port: number } | undefined;
  const stop = async () => {
    running?.proc.kill();
    await running?.proc.exited;
    if (running) liveSshds.delete(running.proc);
    running = undefined;
    await deleteUser(user.name, user.uid);
    await rm(user.sudoers, { force: true });
    await rm(dir, { recursive: true, force: true });
  };
  try {
    const hostKeys = hostKeyPair(opts.hostKeyType ?? "ed25519");
    const clientKeys = generateSshKeyPair(user.name);
    await writeFile(join(dir, "host_key"), hostKeys.privateKey, { mode: 0o600 });
    const authorizedKeys = join(user.home, ".ssh/authorized_keys");
    await writeFile(authorizedKeys, `${clientKeys.publicKey}\n`, { mode: 0o600 });
    await chown(authorizedKeys, user.uid, user.gid);
    await mkdir("/run/sshd", { recursive: true, mode: 0o755 });
    running = await listenOnFreePort(dir, user.name, pathPrefix, lines);
    liveSshds.add(running.proc);
    return {
      host: "127.0.0.1",
      port: running.port,
      user: { name: user.name, uid: user.uid, gid: user.gid, home: user.home },
      hostKey: hostKeys.publicKey,
      clientPrivateKey: clientKeys.privateKey,
      log: () => [...lines],
      waitForLog: (pattern, timeoutMs = 5_000) => pollLog(lines, pattern, timeoutMs),
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
