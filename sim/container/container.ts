/**
 * One container machine: a copy-on-write overlay of the cached Debian 13 root, its own network
 * namespace on the lab bridge, and — once the server starts — a real boot under systemd-nspawn with
 * systemd as PID 1. Real cloud-init reads the NoCloud seed, creates the users, generates the host
 * keys sshd presents and phones home; this module only reads what they leave behind.
 *
 * The overlay is mounted inside a private mount namespace that exists only for the nspawn process,
 * so the mount can never outlive the container, whatever happens to this process.
 */
import { existsSync, readFileSync } from "node:fs";
import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import type { Subprocess } from "bun";
import type { Machine, MachineSpec, MachineView } from "../machine-contract.ts";
import { run } from "./command.ts";
import type { Lab } from "./lab.ts";
import { writeSeed } from "./seed.ts";

export interface ContainerDeps {
  /** The machine's files go to `<dataDir>/<serverId>`. */
  dataDir: string;
  sshPort: number;
  lab: Lab;
  /** The cached root filesystem (the overlay's read-only lower layer), once built. */
  rootfs: Promise<string>;
  onError(error: Error): void;
  /** Called once `destroy` has finished. */
  onDestroyed(): void;
}

/** How long systemd gets to halt the container after SIGTERM before it is killed. */
const HALT_TIMEOUT_MS = 20_000;

/** `mount` then `exec nspawn` in a fresh mount namespace: $1 lower, $2 upper, $3 work, $4 merged, rest nspawn args. */
const BOOT_SCRIPT =
  'set -e; mount -t overlay overlay -o "lowerdir=$1,upperdir=$2,workdir=$3" "$4"; shift 4; exec systemd-nspawn "$@"';

export class ContainerMachine implements Machine {
  readonly serverId: number;
  readonly prepared: Promise<void>;
  /** The machine's address on the lab bridge (what the API reports as the server's IPv4). */
  readonly address: string;
  readonly #dir: string;
  #netnsPath: string | null = null;
  #nspawn: Subprocess | null = null;
  #booting: Promise<void> | null = null;
  #destroyed: Promise<void> | null = null;
  #bootedAt: number | null = null;

  constructor(
    private readonly spec: MachineSpec,
    private readonly deps: ContainerDeps,
  ) {
    this.serverId = spec.serverId;
    this.address = deps.lab.addressFor(spec.ipv4);
    this.#dir = join(deps.dataDir, String(spec.serverId));
    this.prepared = this.#prepare();
    this.prepared.catch(() => undefined);
  }

  /** The overlay's upper layer: every file the machine wrote, at its path relative to `/`. */
  get upperDir(): string {
    return join(this.#dir, "upper");
  }

  /** `performance.now()` when nspawn was started, or null before the boot. */
  get bootedAt(): number | null {
    return this.#bootedAt;
  }

  /** The nspawn process's pid while the container runs. */
  get nspawnPid(): number | null {
    return this.#nspawn && this.#nspawn.exitCode === null ? this.#nspawn.pid : null;
  }

  async #prepare(): Promise<void> {
    // A new server gets a fresh disk, even when a dataDir is reused across simulator runs.
    await rm(this.#dir, { recursive: true, force: true });
    for (const sub of ["upper", "work", "root"])
      await mkdir(join(this.#dir, sub), { recursive: true, mode: 0o755 });
    await writeSeed(this.upperDir, { ...this.spec, sshPort: this.deps.sshPort });
    this.#netnsPath = await this.deps.lab.attach(String(this.serverId), this.address);
    await this.deps.rootfs;
  }

  view(): MachineView {
    return {
      serverId: this.serverId,
      name: this.spec.name,
      address: this.address,
      sshPort: this.deps.sshPort,
      hostKeyEd25519: this.#readUpper("etc/ssh/ssh_host_ed25519_key.pub")?.trim() ?? "",
      sandboxDir: this.upperDir,
      userData: this.spec.userData,
      // Real cloud-init posts phone_home itself; only its listener sees the attempts.
      cloudInit: {
        ...this.#cloudInitState(),
        phoneHome: { url: null, attempts: 0, lastStatus: null, deliveredAt: null },
      },
    };
  }

  /** cloud-init's state from its own result file (written when its last stage ends). */
  #cloudInitState(): Pick<MachineView["cloudInit"], "state" | "error"> {
    if (this.#bootedAt === null) return { state: "pending", error: null };
    const result = this.#readUpper("var/lib/cloud/data/result.json");
    if (result === null) return { state: "running", error: null };
    try {
      const errors = (JSON.parse(result) as { v1?: { errors?: unknown[] } }).v1?.errors ?? [];
      return errors.length === 0
        ? { state: "done", error: null }
        : { state: "error", error: errors.join("; ") };
    } catch {
      // Caught mid-write: the next look sees the finished file.
      return { state: "running", error: null };
    }
  }

  #readUpper(path: string): string | null {
    const file = join(this.upperDir, path);
    return existsSync(file) ? readFileSync(file, "utf8") : null;
  }

  boot(): void {
    if (this.#booting || this.#destroyed) return;
    this.#booting = this.prepared.then(
      () => this.#startNspawn(),
      (error: Error) =>
        this.deps.onError(new Error(`container ${this.serverId} was not prepared: ${error.message}`)),
    );
  }

  async #startNspawn(): Promise<void> {
    if (this.#destroyed || !this.#netnsPath) return;
    const lower = await this.deps.rootfs;
    const dir = this.#dir;
    const nspawnArgs = [
      "--quiet",
      "--keep-unit",
      "--register=no",
      "--console=passive",
      `--network-namespace-path=${this.#netnsPath}`,
      `--machine=sim-${this.serverId}`,
      "-D",
      join(dir, "root"),
      "-b",
    ];
    this.#bootedAt = performance.now();
    const consoleLog = Bun.file(join(dir, "console.log"));
    this.#nspawn = Bun.spawn(
      [
        "unshare",
        "--mount",
        "--propagation",
        "private",
        "sh",
        "-c",
        BOOT_SCRIPT,
        "sh",
        lower,
        this.upperDir,
        join(dir, "work"),
        join(dir, "root"),
        ...nspawnArgs,
      ],
      { stdin: "ignore", stdout: consoleLog, stderr: consoleLog },
    );
    const nspawn = this.#nspawn;
    void nspawn.exited.then((code) => {
      if (!this.#destroyed)
        this.deps.onError(
          new Error(
            `container ${this.serverId} stopped on its own (exit ${code}); see ${join(dir, "console.log")}`,
          ),
        );
    });
  }

  /** The container's PID 1 as this host sees it (nspawn's child), or null when not running. */
  initPid(): number | null {
    const pid = this.nspawnPid;
    if (pid === null) return null;
    const children = readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/);
    const init = Number(children[0]);
    return Number.isInteger(init) && init > 0 ? init : null;
  }

  /** Runs `argv` inside the running container (all its namespaces), as root, `stdin` on its input; resolves with stdout. */
  async exec(argv: string[], stdin?: Blob | Uint8Array): Promise<string> {
    const init = this.initPid();
    if (init === null) throw new Error(`container ${this.serverId} is not running`);
    return run(["nsenter", "-t", String(init), "-a", "--", ...argv], stdin);
  }

  destroy(): Promise<void> {
    this.#destroyed ??= this.#teardown();
    return this.#destroyed;
  }

  async #teardown(): Promise<void> {
    try {
      await this.#booting;
      await this.#halt();
      await this.prepared.catch(() => undefined);
      await this.deps.lab.detach(String(this.serverId));
      await rm(this.#dir, { recursive: true, force: true });
    } finally {
      this.deps.onDestroyed();
    }
  }

  /** SIGTERM makes nspawn halt the container cleanly (about 2 s); SIGKILL if systemd does not finish. */
  async #halt(): Promise<void> {
    const nspawn = this.#nspawn;
    if (!nspawn || nspawn.exitCode !== null || nspawn.signalCode !== null) return;
    nspawn.kill("SIGTERM");
    const halted = await Promise.race([
      nspawn.exited.then(() => true),
      Bun.sleep(HALT_TIMEOUT_MS).then(() => false),
    ]);
    if (!halted) {
      nspawn.kill("SIGKILL");
      await nspawn.exited;
    }
  }
}
