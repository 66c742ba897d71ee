import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { chmodSync, closeSync, mkdirSync, statSync } from "node:fs";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { MachineError } from "../errors.ts";
import { createSandboxLayout, LOGIN_SHELL, SANDBOX_PATH } from "./layout.ts";
import { hostTool, MachineNamespaces } from "./namespace.ts";
import { PipeInput, pipeOutput, sessionPipes } from "./os-pipe.ts";

const ENTER_SCRIPT = await Bun.file(new URL("./enter.sh", import.meta.url)).text();

/** The uid sandboxes run as when the simulator is root, so "root" inside is `nobody` outside. */
export const SANDBOX_UID_WHEN_ROOT = 65534;

/** How commands get isolated on this host, decided once by `probeIsolation`. */
export type Isolation =
  | {
      available: true;
      /** The argv prefix (setpriv, ending in `--`) every process of a box starts under. */
      privilegeDrop: string[];
      owner: number | null;
    }
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

/**
 * How enter.sh starts what it is given: "direct" runs a command with the stdin, stdout and stderr it was
 * handed (sockets for the box's own work, which never reopens them; pipes for an SSH session's command);
 * "script" runs a script of the simulator's own in the entering shell itself.
 */
type EnterMode = "direct" | "script";

/** An SSH session's command (see `startSession`): its pipes, and how it ended. */
export interface SessionCommand {
  readonly stdin: PipeInput;
  readonly stdout: ReadableStream<Uint8Array>;
  readonly stderr: ReadableStream<Uint8Array>;
  readonly exited: Promise<number>;
  readonly exitCode: number | null;
  readonly signalCode: Subprocess["signalCode"];
  /** Ends the command's whole pid namespace. */
  kill(): void;
}

export const SANDBOX_ROOT_USER: SandboxUser = { name: "root", home: "/root", shell: LOGIN_SHELL };

/** As root, drop to nobody first so no namespace is ever owned by the host's root. */
function isolationCandidate(): { privilegeDrop: string[]; owner: number | null } {
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
  const candidate = isolationCandidate();
  const rootDir = join(scratchDir, `.probe-${process.pid}-${Date.now()}`);
  const unavailable = (why: string): Isolation => {
    const hint =
      candidate.owner === null
        ? ""
        : ` (running as root, sandboxes run as uid ${candidate.owner}: every directory above ${scratchDir} must be searchable by others)`;
    return { available: false, reason: `namespace sandbox failed: ${why}${hint}` };
  };
  try {
    await createSandboxLayout(rootDir, "probe", candidate.owner);
    const probe = await Sandbox.open(rootDir, "probe", { available: true, ...candidate });
    const result = await probe.run(["true"]).finally(() => probe.close());
    if (result.exitCode === 0) return { available: true, ...candidate };
    return unavailable(result.stderr.trim() || "no output");
  } catch (error) {
    return unavailable((error as Error).message);
  } finally {
    await rm(rootDir, { recursive: true, force: true });
  }
}

/** A machine's filesystem (`rootDir`) and the processes running in it. */
export class Sandbox {
  readonly #running = new Set<RunningCommand>();
  #closed = false;

  private constructor(
    readonly rootDir: string,
    private readonly hostname: string,
    private readonly isolation: Isolation,
    private readonly namespaces: MachineNamespaces | null,
  ) {}

  /**
   * The sandbox over `rootDir` (a layout from `createSandboxLayout`), its namespaces set up and held
   * until `close`. Without isolation every command fails with the probe's reason.
   */
  static async open(rootDir: string, hostname: string, isolation: Isolation): Promise<Sandbox> {
    const namespaces = isolation.available
      ? await MachineNamespaces.hold(rootDir, hostname, isolation.privilegeDrop)
      : null;
    return new Sandbox(rootDir, hostname, isolation, namespaces);
  }

  /**
   * Starts `argv` inside the box as `user` (whose identity is recorded in the environment; see README) with
   * node:child_process, its stdio streamed, for the box's long-lived work (the service manager, cloud-init's
   * final stage).
   */
  spawn(argv: string[], user: SandboxUser = SANDBOX_ROOT_USER): ChildProcessWithoutNullStreams {
    const [launcher, ...args] = this.#command("direct", argv, user);
    const child = spawn(launcher ?? "setpriv", args, { env: sandboxEnv(user), stdio: "pipe" });
    const running = { kill: () => child.kill("SIGKILL"), exited: () => closed(child) };
    this.#running.add(running);
    child.once("close", () => this.#running.delete(running));
    child.once("error", () => this.#running.delete(running));
    // A command may exit without reading its input; writing it then fails with EPIPE, as with real sshd.
    child.stdin.on("error", () => undefined);
    return child;
  }

  /** Runs `argv` to completion, feeding `stdin`, and collects its output. */
  run(
    argv: string[],
    options: { stdin?: string | Uint8Array; user?: SandboxUser } = {},
  ): Promise<SandboxResult> {
    return this.#collect("direct", argv, options.user ?? SANDBOX_ROOT_USER, options.stdin);
  }

  /**
   * Runs a short POSIX `script` of the simulator's own, with `args` as "$@", as root, in the very shell
   * that enters the box (no sh process of its own, which would cost the host a millisecond); otherwise
   * like `run` of `sh -c`, except that its error messages start with "sh:" whatever the script's name.
   */
  runScript(
    script: string,
    args: string[],
    options: { stdin?: string | Uint8Array } = {},
  ): Promise<SandboxResult> {
    return this.#collect("script", [script, ...args], SANDBOX_ROOT_USER, options.stdin);
  }

  /** Like `run`, but a non-zero exit is a `sandbox_command_failed` error naming `what`. */
  async runOrThrow(what: string, argv: string[], stdin?: string | Uint8Array): Promise<string> {
    return succeeded(what, await this.run(argv, stdin === undefined ? {} : { stdin }));
  }

  /** Like `runScript`, but a non-zero exit is a `sandbox_command_failed` error naming `what`. */
  async runScriptOrThrow(
    what: string,
    script: string,
    args: string[],
    stdin?: string | Uint8Array,
  ): Promise<string> {
    return succeeded(what, await this.runScript(script, args, stdin === undefined ? {} : { stdin }));
  }

  /**
   * Starts `argv` as `user` as sshd starts a session's command: stdin, stdout and stderr are pipes (see
   * os-pipe.ts), the caller's to relay. With Bun.spawn, about half the main thread's cost of `spawn`.
   */
  startSession(argv: string[], user: SandboxUser): SessionCommand {
    const owner = this.isolation.available ? this.isolation.owner : null;
    const { input, output, errors } = sessionPipes(owner);
    let child: Subprocess<number, number, number>;
    try {
      child = this.#spawnTracked("direct", argv, user, input.read, output.write, errors.write);
    } catch (error) {
      for (const fd of [input.write, output.read, errors.read]) closeSync(fd);
      throw error;
    } finally {
      // The command holds its ends now; ours would keep its stdin from ever ending, and its output too.
      for (const fd of [input.read, output.write, errors.write]) closeSync(fd);
    }
    const stdin = new PipeInput(input.write);
    // As sshd does once the command exits: nothing more can reach it.
    void child.exited.then(() => stdin.end());
    return {
      stdin,
      stdout: pipeOutput(output.read),
      stderr: pipeOutput(errors.read),
      exited: child.exited,
      get exitCode() {
        return child.exitCode;
      },
      get signalCode() {
        return child.signalCode;
      },
      kill: () => child.kill("SIGKILL"),
    };
  }

  /** Runs enter.sh in `mode` to completion, `stdin` handed over whole, and collects its output. */
  async #collect(
    mode: EnterMode,
    argv: string[],
    user: SandboxUser,
    stdin: string | Uint8Array = "",
  ): Promise<SandboxResult> {
    const child = this.#spawnTracked(mode, argv, user, Buffer.from(stdin), "pipe", "pipe");
    const [stdout, stderr] = await Promise.all([textOf(child.stdout), textOf(child.stderr), child.exited]);
    return { exitCode: child.exitCode, stdout, stderr };
  }

  /** Starts enter.sh in `mode` with Bun.spawn and keeps it until it exits (see `close`). */
  #spawnTracked<In extends Buffer | number, Out extends "pipe" | number>(
    mode: EnterMode,
    argv: string[],
    user: SandboxUser,
    stdin: In,
    stdout: Out,
    stderr: Out,
  ): Subprocess<In, Out, Out> {
    const command = this.#command(mode, argv, user);
    let child: Subprocess<In, Out, Out>;
    try {
      child = Bun.spawn(command, { env: sandboxEnv(user), stdin, stdout, stderr });
    } catch (error) {
      throw new MachineError("sandbox_unavailable", `cannot start the sandbox: ${(error as Error).message}`);
    }
    const running = { kill: () => child.kill("SIGKILL"), exited: () => child.exited };
    this.#running.add(running);
    void child.exited.then(() => this.#running.delete(running));
    return child;
  }

  /** The argv that starts enter.sh in `mode` ("script": `argv` is a script and its arguments). */
  #command(mode: EnterMode, argv: string[], user: SandboxUser): string[] {
    if (!this.isolation.available) throw new MachineError("sandbox_unavailable", this.isolation.reason);
    if (this.#closed || this.namespaces === null) {
      throw new MachineError("sandbox_unavailable", "the machine has been destroyed");
    }
    // $0 prefixes the shell's error messages, which a script's reach its caller.
    const name = mode === "script" ? "sh" : "enter";
    const enter = ["/bin/sh", "-c", ENTER_SCRIPT, name, this.hostname, user.home, mode];
    return [...this.namespaces.launcher(), ...enter, ...argv];
  }

  /**
   * Kills every process of this machine and its namespace holder, and refuses new ones; killing a
   * launcher ends its command's whole pid namespace.
   */
  async close(): Promise<void> {
    this.#closed = true;
    const exits = [...this.#running].map((running) => running.exited());
    for (const running of this.#running) running.kill();
    await Promise.all([...exits, this.namespaces?.close()]);
  }
}

/** A command of the box still running: how to kill it, and when it is gone. */
interface RunningCommand {
  kill(): void;
  exited(): Promise<unknown>;
}

/** Resolves once a node child has exited and its stdio closed (at once if it had already exited). */
function closed(child: ChildProcessWithoutNullStreams): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once("close", () => resolve()));
}

/** The environment a command of the box starts with: the user's identity (see README), nothing of the host's. */
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

/** All of a stream as UTF-8, byte for byte (a leading BOM is kept). */
async function textOf(stream: ReadableStream<Uint8Array>): Promise<string> {
  return Buffer.from(await new Response(stream).arrayBuffer()).toString();
}

/** The output of a command that exited 0; otherwise a `sandbox_command_failed` error naming `what`. */
function succeeded(what: string, result: SandboxResult): string {
  if (result.exitCode !== 0) {
    throw new MachineError(
      "sandbox_command_failed",
      `${what}: ${result.stderr.trim() || `exit ${result.exitCode}`}`,
    );
  }
  return result.stdout;
}
