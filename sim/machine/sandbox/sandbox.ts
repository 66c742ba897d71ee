import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { chmodSync, mkdirSync, statSync } from "node:fs";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { MachineError } from "../errors.ts";
import { createSandboxLayout, LOGIN_SHELL, SANDBOX_PATH } from "./layout.ts";

const ENTER_SCRIPT = await Bun.file(new URL("./enter.sh", import.meta.url)).text();

/** The uid sandboxes run as when the simulator is root, so "root" inside is `nobody` outside. */
export const SANDBOX_UID_WHEN_ROOT = 65534;

/**
 * Namespaces every command gets: its own users ("root" mapped to the caller), mounts, pids (the whole
 * tree dies with the launcher), network (a loopback that is down), IPC, hostname and cgroup view.
 */
const UNSHARE = [
  "unshare",
  "--user",
  "--map-root-user",
  "--mount",
  "--pid",
  "--fork",
  "--kill-child",
  "--net",
  "--ipc",
  "--uts",
  "--cgroup",
];

/** How commands get isolated on this host, decided once by `probeIsolation`. */
export type Isolation =
  | { available: true; launcher: string[]; owner: number | null }
  | { available: false; reason: string };

export interface SandboxUser {
  name: string;
  home: string;
  shell: string;
}

export interface SandboxResult {
  exitCode: number | null;
  stdout: string;
  stderr: string;
}

export const SANDBOX_ROOT_USER: SandboxUser = { name: "root", home: "/root", shell: LOGIN_SHELL };

/** Builds the launcher: as root, drop to nobody first so no namespace is ever owned by the host's root. */
function isolationLauncher(): { launcher: string[]; owner: number | null } {
  const isRoot = process.getuid?.() === 0;
  const drop = isRoot
    ? [`--reuid=${SANDBOX_UID_WHEN_ROOT}`, `--regid=${SANDBOX_UID_WHEN_ROOT}`, "--clear-groups"]
    : [];
  return {
    launcher: ["setpriv", ...drop, "--no-new-privs", "--", ...UNSHARE, "--"],
    owner: isRoot ? SANDBOX_UID_WHEN_ROOT : null,
  };
}

/**
 * Creates `dir`, the parent of sandbox directories. When the simulator is root, sandboxes run as uid
 * 65534 and must be able to reach their directory, so `dir` gets o+x (traverse, not list) if it lacks it;
 * its own ancestors must already be traversable (the probe reports it when they are not).
 */
export function prepareSandboxParent(dir: string): void {
  mkdirSync(dir, { recursive: true });
  if (process.getuid?.() !== 0) return;
  const mode = statSync(dir).mode & 0o7777;
  if ((mode & 0o001) === 0) chmodSync(dir, mode | 0o001);
}

/** Runs `true` in a throwaway sandbox under `scratchDir`; never falls back to running unsandboxed. */
export async function probeIsolation(scratchDir: string): Promise<Isolation> {
  const candidate = isolationLauncher();
  const rootDir = join(scratchDir, `.probe-${process.pid}-${Date.now()}`);
  try {
    await createSandboxLayout(rootDir, "probe", candidate.owner);
    const probe = new Sandbox(rootDir, "probe", { available: true, ...candidate });
    const result = await probe.run(["true"]);
    if (result.exitCode === 0) return { available: true, ...candidate };
    const hint =
      candidate.owner === null
        ? ""
        : ` (running as root, sandboxes run as uid ${candidate.owner}: every directory above ${scratchDir} must be searchable by others)`;
    return {
      available: false,
      reason: `namespace sandbox failed: ${result.stderr.trim() || "no output"}${hint}`,
    };
  } catch (error) {
    return { available: false, reason: `namespace sandbox failed: ${(error as Error).message}` };
  } finally {
    await rm(rootDir, { recursive: true, force: true });
  }
}

/** A machine's filesystem (`rootDir`) and the processes running in it. */
export class Sandbox {
  readonly #running = new Set<ChildProcessWithoutNullStreams>();
  #closed = false;

  constructor(
    readonly rootDir: string,
    private readonly hostname: string,
    private readonly isolation: Isolation,
  ) {}

  /** Starts `argv` inside the box as `user` (whose identity is recorded in the environment; see README). */
  spawn(argv: string[], user: SandboxUser = SANDBOX_ROOT_USER): ChildProcessWithoutNullStreams {
    if (!this.isolation.available) throw new MachineError("sandbox_unavailable", this.isolation.reason);
    if (this.#closed) throw new MachineError("sandbox_unavailable", "the machine has been destroyed");
    const [launcher, ...launcherArgs] = this.isolation.launcher;
    if (launcher === undefined) throw new MachineError("sandbox_unavailable", "empty sandbox launcher");
    const enter = ["/bin/sh", "-c", ENTER_SCRIPT, "enter", this.rootDir, this.hostname, user.home];
    const child = spawn(launcher, [...launcherArgs, ...enter, ...argv], {
      env: {
        PATH: SANDBOX_PATH,
        HOME: user.home,
        USER: user.name,
        LOGNAME: user.name,
        SHELL: user.shell,
        LANG: "C.UTF-8",
      },
      stdio: "pipe",
    });
    this.#running.add(child);
    child.once("close", () => this.#running.delete(child));
    child.once("error", () => this.#running.delete(child));
    // A command may exit without reading its input; writing it then fails with EPIPE, as with real sshd.
    child.stdin.on("error", () => undefined);
    return child;
  }

  /** Runs `argv` to completion, feeding `stdin`, and collects its output. */
  run(
    argv: string[],
    options: { stdin?: string | Uint8Array; user?: SandboxUser } = {},
  ): Promise<SandboxResult> {
    return new Promise((resolve, reject) => {
      const child = this.spawn(argv, options.user);
      const stdout: Buffer[] = [];
      const stderr: Buffer[] = [];
      child.stdout.on("data", (chunk: Buffer) => stdout.push(chunk));
      child.stderr.on("data", (chunk: Buffer) => stderr.push(chunk));
      child.once("error", (error) =>
        reject(new MachineError("sandbox_unavailable", `cannot start the sandbox: ${error.message}`)),
      );
      child.once("close", (exitCode) =>
        resolve({
          exitCode,
          stdout: Buffer.concat(stdout).toString(),
          stderr: Buffer.concat(stderr).toString(),
        }),
      );
      child.stdin.end(options.stdin ?? "");
    });
  }

  /** Like `run`, but a non-zero exit is a `sandbox_command_failed` error naming `what`. */
  async runOrThrow(what: string, argv: string[], stdin?: string | Uint8Array): Promise<string> {
    const result = await this.run(argv, stdin === undefined ? {} : { stdin });
    if (result.exitCode !== 0) {
      throw new MachineError(
        "sandbox_command_failed",
        `${what}: ${result.stderr.trim() || `exit ${result.exitCode}`}`,
      );
    }
    return result.stdout;
  }

  /** Kills every process of this machine and refuses new ones; killing a launcher ends its whole pid namespace. */
  async close(): Promise<void> {
    this.#closed = true;
    const exits = [...this.#running].map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) resolve();
          else child.once("close", () => resolve());
        }),
    );
    for (const child of this.#running) child.kill("SIGKILL");
    await Promise.all(exits);
  }
}
