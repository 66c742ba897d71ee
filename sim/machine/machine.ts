import { rm } from "node:fs/promises";
import { join } from "node:path";
import { generateSshKeyPair } from "../../core/ssh-keygen.ts";
import type { Machine, MachineHostOptions, MachineSpec, MachineView } from "../machine-contract.ts";
import { runCloudInit } from "./cloud-init/run.ts";
import { MachineError } from "./errors.ts";
import type { MachineFaultBoard } from "./faults.ts";
import { createSandboxLayout } from "./sandbox/layout.ts";
import { type Isolation, Sandbox } from "./sandbox/sandbox.ts";
import { startServiceSupervisor } from "./services/supervisor.ts";
import { type SshEndpoint, startSshEndpoint } from "./ssh/endpoint.ts";

/** The host's options (the sandbox becomes `<dataDir>/<serverId>`), its isolation and its faults. */
export interface MachineDeps extends Omit<MachineHostOptions, "onError"> {
  isolation: Isolation;
  faults: MachineFaultBoard;
  onError(error: Error): void;
  /** Called once `destroy` has finished, so the host stops listing the machine (and may reuse its id). */
  onDestroyed(): void;
}

/**
 * Creates a machine: new host key and SSH listening at once; its disk (a fresh sandbox filesystem and the
 * namespaces over it) is prepared in the background, as a cloud prepares a disk while the server is
 * `initializing` (see `Machine.prepared`). Not yet booted.
 */
export async function createMachine(spec: MachineSpec, deps: MachineDeps): Promise<Machine> {
  const sandboxDir = join(deps.dataDir, String(spec.serverId));
  // Not ssh2's keygen: it mangles about 1 ed25519 key in 256 (see core/ssh-keygen.ts).
  const hostKey = generateSshKeyPair(`root@${spec.name}`);
  const disk = prepareDisk(spec, deps, sandboxDir);
  // Until it is awaited (a login, boot, destroy), a failed disk must not count as an unhandled rejection.
  disk.catch(() => undefined);
  try {
    const endpoint = await startSshEndpoint({
      address: spec.ipv4,
      port: deps.sshPort,
      hostKey: hostKey.privateKey,
      sandbox: disk,
      shouldDrop: () => deps.faults.takeSshDrop(spec.serverId),
      onError: deps.onError,
    });
    return new FakeMachine(spec, deps, { dir: sandboxDir, sandbox: disk }, endpoint, hostKey.publicKey);
  } catch (error) {
    await removeDisk(sandboxDir, disk);
    throw error;
  }
}

/** The machine's filesystem and namespaces; a failure removes what was made. */
async function prepareDisk(spec: MachineSpec, deps: MachineDeps, sandboxDir: string): Promise<Sandbox> {
  // A new server gets a fresh disk, even when a dataDir is reused across simulator runs.
  await rm(sandboxDir, { recursive: true, force: true });
  try {
    await createSandboxLayout(sandboxDir, spec.name, deps.isolation.owner);
    return await Sandbox.open(sandboxDir, spec.name, deps.isolation);
  } catch (error) {
    await rm(sandboxDir, { recursive: true, force: true });
    if (deps.isolation.owner === null) throw error;
    const hint = `sandboxes run as uid ${deps.isolation.owner}: every directory above ${deps.dataDir} must be searchable by others`;
    throw new MachineError("sandbox_unavailable", `${(error as Error).message} (${hint})`);
  }
}

/** Ends the disk's processes (once it is ready, if it ever is) and removes it. */
async function removeDisk(sandboxDir: string, disk: Promise<Sandbox>): Promise<void> {
  const sandbox = await disk.catch(() => null);
  await sandbox?.close();
  await rm(sandboxDir, { recursive: true, force: true });
}

/** Where a machine's disk lives, and the disk itself once prepared. */
interface MachineDisk {
  dir: string;
  sandbox: Promise<Sandbox>;
}

class FakeMachine implements Machine {
  readonly serverId: number;
  readonly prepared: Promise<void>;
  readonly #cloudInit: MachineView["cloudInit"] = {
    state: "pending",
    error: null,
    phoneHome: { url: null, attempts: 0, lastStatus: null, deliveredAt: null },
  };
  readonly #lifetime = new AbortController();
  #firstBoot: Promise<void> | null = null;
  #destroyed: Promise<void> | null = null;
  /** The disk once prepared, so a boot after that starts at once. */
  #sandbox: Sandbox | null = null;

  constructor(
    private readonly spec: MachineSpec,
    private readonly deps: MachineDeps,
    private readonly disk: MachineDisk,
    private readonly endpoint: SshEndpoint,
    private readonly hostKeyLine: string,
  ) {
    this.serverId = spec.serverId;
    this.prepared = disk.sandbox.then((sandbox) => {
      this.#sandbox = sandbox;
    });
    this.prepared.catch(() => undefined);
  }

  view(): MachineView {
    return {
      serverId: this.spec.serverId,
      name: this.spec.name,
      address: this.spec.ipv4,
      sshPort: this.deps.sshPort,
      hostKeyEd25519: this.hostKeyLine,
      sandboxDir: this.disk.dir,
      userData: this.spec.userData,
      cloudInit: structuredClone(this.#cloudInit),
    };
  }

  boot(dueAt?: number): void {
    // cloud-init runs its modules once per instance; later boots (reboots) do not repeat them.
    if (this.#firstBoot || this.#lifetime.signal.aborted) return;
    const bootedAt = dueAt ?? performance.now();
    if (this.#sandbox) {
      this.#firstBoot = this.#firstBootOn(this.#sandbox, bootedAt);
      return;
    }
    this.#firstBoot = this.disk.sandbox.then(
      (sandbox) => this.#firstBootOn(sandbox, bootedAt),
      (error: Error) => {
        this.#cloudInit.state = "error";
        this.#cloudInit.error = `the machine's disk could not be prepared: ${error.message}`;
      },
    );
  }

  #firstBootOn(sandbox: Sandbox, bootedAt: number): Promise<void> {
    if (this.#lifetime.signal.aborted) return Promise.resolve();
    startServiceSupervisor(sandbox, this.deps.timeScale, this.deps.onError, this.#lifetime.signal);
    return runCloudInit({
      spec: this.spec,
      sandbox,
      hostKeyLine: this.hostKeyLine,
      bootedAt,
      timeScale: this.deps.timeScale,
      cloudInitMs: this.deps.cloudInitMs,
      faults: this.deps.faults,
      status: this.#cloudInit,
      signal: this.#lifetime.signal,
    });
  }

  destroy(): Promise<void> {
    this.#destroyed ??= this.#teardown();
    return this.#destroyed;
  }

  async #teardown(): Promise<void> {
    this.#lifetime.abort();
    try {
      await this.endpoint.close();
      const sandbox = await this.disk.sandbox.catch(() => null);
      await sandbox?.close();
      await this.#firstBoot;
      await rm(this.disk.dir, { recursive: true, force: true });
    } finally {
      this.deps.onDestroyed();
    }
  }
}
