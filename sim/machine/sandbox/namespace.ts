import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { MachineError } from "../errors.ts";
import { mountArguments } from "./mounts.ts";

const NAMESPACE_SCRIPT = await Bun.file(new URL("./namespace.sh", import.meta.url)).text();

/**
 * The absolute path of one of the host's util-linux tools. Every box sees the same file there, since its
 * /usr, /bin and /sbin are the host's, read-only; found on PATH instead, the tool that enters a box
 * would be looked up in /opt/sim/bin or /usr/local first, where the box could have planted its own.
 */
export function hostTool(name: string): string {
  const found = ["/usr/bin", "/bin", "/usr/sbin", "/sbin"].map((dir) => `${dir}/${name}`).find(existsSync);
  return found ?? `/usr/bin/${name}`;
}

/**
 * The machine's namespaces: its own users ("root" mapped to the caller), mounts (the box's root, set up
 * once by namespace.sh), pids (the holder is pid 1 and dies with its launcher), network (a loopback that
 * is down), IPC, hostname and cgroup view.
 */
const UNSHARE_MACHINE = [
  hostTool("unshare"),
  ..."--user --map-root-user --mount --pid --fork --kill-child --net --ipc --uts --cgroup".split(" "),
];

/** What every command enters: all the holder's namespaces, and the box's root as `/`. */
const ENTER_MACHINE = [
  hostTool("nsenter"),
  ..."--user --mount --net --ipc --uts --cgroup --root --wd --preserve-credentials".split(" "),
];

/**
 * What every command gets of its own: a pid namespace whose whole tree dies with the launcher, and its
 * own /proc for it.
 */
const UNSHARE_COMMAND = [hostTool("unshare"), "--pid", "--fork", "--kill-child", "--mount-proc"];

/**
 * One idle process per machine holding the box's namespaces for the machine's lifetime, so a command
 * only enters them (a few ms) instead of building the whole filesystem again (tens of ms of mounts).
 */
export class MachineNamespaces {
  #gone: string | null = null;

  private constructor(
    /** The launcher (unshare); it and the holder die together. */
    private readonly launcherProcess: ChildProcessWithoutNullStreams,
    /** The holder (pid 1 of the box's namespaces) as the host sees it. */
    private readonly holderPid: number,
    private readonly privilegeDrop: readonly string[],
  ) {
    launcherProcess.once("close", (code, signal) => {
      this.#gone ??= `the machine's namespace holder exited (${signal ?? `exit ${code}`})`;
    });
  }

  /**
   * Builds the namespaces over `rootDir`, named `hostname`, and waits until the box's filesystem is in
   * place; rejects with `sandbox_unavailable` and the setup's own error output when that fails.
   * `privilegeDrop` is the argv prefix every process of the box starts under (setpriv, ending in `--`).
   */
  static async hold(
    rootDir: string,
    hostname: string,
    privilegeDrop: readonly string[],
  ): Promise<MachineNamespaces> {
    const [program = "setpriv", ...args] = privilegeDrop;
    const mounts = mountArguments(rootDir);
    const setup = ["/bin/sh", "-c", NAMESPACE_SCRIPT, "namespace", rootDir, hostname, ...mounts];
    const launcher = spawn(program, [...args, ...UNSHARE_MACHINE, "--", ...setup], {
      env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin", LANG: "C.UTF-8" },
      stdio: "pipe",
    });
    try {
      return new MachineNamespaces(launcher, await readyHolderPid(launcher), privilegeDrop);
    } catch (error) {
      launcher.kill("SIGKILL");
      throw error;
    }
  }

  /** The argv prefix that runs a command inside the box; throws once the holder is gone. */
  launcher(): string[] {
    // Checked first: once the holder is gone, its pid must never be entered (it may be reused).
    if (this.#gone !== null) throw new MachineError("sandbox_unavailable", this.#gone);
    const [nsenter = "nsenter", ...enter] = ENTER_MACHINE;
    const target = `--target=${this.holderPid}`;
    return [...this.privilegeDrop, nsenter, target, ...enter, "--", ...UNSHARE_COMMAND, "--"];
  }

  /** Ends the holder; commands already inside keep the namespaces until they exit. */
  async close(): Promise<void> {
    this.#gone ??= "the machine has been destroyed";
    const launcher = this.launcherProcess;
    if (launcher.exitCode !== null || launcher.signalCode !== null) return;
    const closed = new Promise<void>((resolve) => launcher.once("close", () => resolve()));
    launcher.kill("SIGKILL");
    await closed;
  }
}

/** Resolves to the holder's host pid once it reported "ready PID"; rejects with its stderr when it exits before. */
function readyHolderPid(launcher: ChildProcessWithoutNullStreams): Promise<number> {
  return new Promise((resolve, reject) => {
    let stdout = "";
    let stderr = "";
    launcher.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    launcher.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString();
      const ready = /^ready (\d+)\n/m.exec(stdout);
      if (ready) resolve(Number(ready[1]));
    });
    // Once ready, a later exit is what `#gone` records; a promise settles only once.
    launcher.once("close", (code) =>
      reject(new MachineError("sandbox_unavailable", stderr.trim() || `namespace setup exited ${code}`)),
    );
    launcher.once("error", (error) =>
      reject(new MachineError("sandbox_unavailable", `cannot start the sandbox: ${error.message}`)),
    );
  });
}
