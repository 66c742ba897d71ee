import { chmodSync, mkdirSync, statSync } from "node:fs";
import type { Subprocess } from "bun";
import { MachineError } from "../errors.ts";
import { LOGIN_SHELL, SANDBOX_PATH } from "./layout.ts";
import { hostTool, MachineNamespaces } from "./namespace.ts";

const ENTER_SCRIPT = await Bun.file(new URL("./enter.sh", import.meta.url)).text();

/** The uid sandboxes run as when the simulator is root, so "root" inside is `nobody` outside. */
export const SANDBOX_UID_WHEN_ROOT = 65534;

/** Who a box's processes are on the host, decided once per host by `sandboxIdentity`. */
export interface Isolation {
  /** The argv prefix (setpriv, ending in `--`) every process of a box starts under. */
  privilegeDrop: string[];
  /** The uid owning a box's files; null when that is the simulator's own. */
  owner: number | null;
}

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

/** An SSH session's command: its stdin, stdout and stderr streamed (see `startSession`). */
export type SessionCommand = Subprocess<"pipe", "pipe", "pipe">;

export const SANDBOX_ROOT_USER: SandboxUser = { name: "root", home: "/root", shell: LOGIN_SHELL };

/** As root, drop to nobody first so no namespace is ever owned by the host's root. */
export function sandboxIdentity(): Isolation {
  const isRoot = process.getuid?.() === 0;
  const drop = isRoot
    ? [`--reuid=${SANDBOX_UID_WHEN_ROOT}`, `--regid=${SANDBOX_UID_WHEN_ROOT}`, "--clear-groups"]
    : [];
  return {
    privilegeDrop: [hostTool("setpriv"), ...drop, "--no-new-privs", "--"],
    owner: isRoot ? SANDBOX_UID_WHEN_ROOT : null,
  };
}

/**
 * Creates `dir`, the parent of sandbox directories. When the simulator is root, sandboxes run as uid
 * 65534 and must be able to reach their directory, so `dir` gets o+x (traverse, not list) if it lacks it;
 * its own ancestors must already be traversable (a machine's disk fails, saying so, when they are not).
 */
export function prepareSandboxParent(dir: string): void {
  mkdirSync(dir, { recursive: true });
  if (process.getuid?.() !== 0) return;
  const mode = statSync(dir).mode & 0o7777;
  if ((mode & 0o001) === 0) chmodSync(dir, mode | 0o001);
}

/** A machine's filesystem (`rootDir`) and the processes running in it. */
export class Sandbox {
  /** How to kill each command still running, and when it is gone. */
  readonly #running = new Set<{ kill(): void; exited: Promise<unknown> }>();
  #closed = false;

  private constructor(
    readonly rootDir: string,
    private readonly namespaces: MachineNamespaces,
  ) {}

  /**
   * The sandbox over `rootDir` (a layout from `createSandboxLayout`), its namespaces set up and held
   * until `close`; rejects with `sandbox_unavailable` and the setup's own error output when they cannot be.
   */
  static async open(rootDir: string, hostname: string, isolation: Isolation): Promise<Sandbox> {
    return new Sandbox(rootDir, await MachineNamespaces.hold(rootDir, hostname, isolation.privilegeDrop));
  }

  /** Runs `argv` to completion, its whole input given at once, and collects its output. */
  async run(
    argv: string[],
    options: { stdin?: string | Uint8Array; user?: SandboxUser } = {},
  ): Promise<SandboxResult> {
    const user = options.user ?? SANDBOX_ROOT_USER;
    const stdin = Buffer.from(options.stdin ?? "");
    const child = this.#spawnTracked(argv, user, { stdin, stdout: "pipe", stderr: "pipe" });
    const [stdout, stderr] = await Promise.all([
      new Response(child.stdout).text(),
      new Response(child.stderr).text(),
      child.exited,
    ]);
    return { exitCode: child.exitCode, stdout, stderr };
  }

  /** Like `run`, but a non-zero exit is a `sandbox_command_failed` error naming `what`. */
  async runOrThrow(what: string, argv: string[], stdin?: string | Uint8Array): Promise<string> {
    const result = await this.run(argv, stdin === undefined ? {} : { stdin });
    if (result.exitCode !== 0) {
      const reason = result.stderr.trim() || `exit ${result.exitCode}`;
      throw new MachineError("sandbox_command_failed", `${what}: ${reason}`);
    }
    return result.stdout;
  }

  /**
   * Starts `argv` inside the box as `user` (whose identity is recorded in the environment), its stdin, stdout
   * and stderr the caller's to relay: an SSH session's command, or the box's long-lived work.
   */
  startSession(argv: string[], user: SandboxUser): SessionCommand {
    return this.#spawnTracked(argv, user, { stdin: "pipe", stdout: "pipe", stderr: "pipe" });
  }

  #spawnTracked<In extends Buffer | "pipe">(
    argv: string[],
    user: SandboxUser,
    stdio: { stdin: In; stdout: "pipe"; stderr: "pipe" },
  ): Subprocess<In, "pipe", "pipe"> {
    const command = this.#command(argv, user);
    let child: Subprocess<In, "pipe", "pipe">;
    try {
      child = Bun.spawn(command, { env: sandboxEnv(user), ...stdio });
    } catch (error) {
      throw new MachineError("sandbox_unavailable", `cannot start the sandbox: ${(error as Error).message}`);
    }
    this.#track({ kill: () => child.kill("SIGKILL"), exited: child.exited });
    return child;
  }

  #track(running: { kill(): void; exited: Promise<unknown> }): void {
    this.#running.add(running);
    void running.exited.then(() => this.#running.delete(running));
  }

  /** The argv that enters the box and runs `argv` there. */
  #command(argv: string[], user: SandboxUser): string[] {
    if (this.#closed) throw new MachineError("sandbox_unavailable", "the machine has been destroyed");
    const enter = ["/bin/sh", "-c", ENTER_SCRIPT, "enter", user.home];
    return [...this.namespaces.launcher(), ...enter, ...argv];
  }

  /**
   * Kills every process of this machine and its namespace holder, and refuses new ones; killing a
   * launcher ends its command's whole pid namespace.
   */
  async close(): Promise<void> {
    this.#closed = true;
    const exits = [...this.#running].map((running) => running.exited);
    for (const running of this.#running) running.kill();
    await Promise.all([...exits, this.namespaces.close()]);
  }
}

/** The environment a command of the box starts with: the user's identity, nothing of the host's. */
function sandboxEnv(user: SandboxUser): Record<string, string> {
  return {
    PATH: SANDBOX_PATH,
    HOME: user.home,
    USER: user.name,
    LOGNAME: user.name,
    SHELL: user.shell,
    LANG: "C.UTF-8",
  };
}
