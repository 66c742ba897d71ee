import { rm } from "node:fs/promises";
import { join } from "node:path";
import { generateSshKeyPair } from "../../core/ssh-keygen.ts";
import { runCloudInit } from "./cloud-init/run.ts";
import type { MachineFaultBoard } from "./faults.ts";
import { createSandboxLayout } from "./sandbox/layout.ts";
import { type Isolation, Sandbox } from "./sandbox/sandbox.ts";
import { startServiceSupervisor } from "./services/supervisor.ts";
import { type SshEndpoint, startSshEndpoint } from "./ssh/endpoint.ts";
import type { Machine, MachineSpec, MachineView } from "./types.ts";

export interface MachineDeps {
  /** The machine's sandbox becomes `<dataDir>/<serverId>`. */
  dataDir: string;
  sshPort: number;
  timeScale: number;
  /** Unscaled cloud-init duration, in ms. */
  cloudInitMs: number;
  isolation: Isolation;
  faults: MachineFaultBoard;
  onError(error: Error): void;
  /** Called once `destroy` has finished, so the host stops listing the machine (and may reuse its id). */
  onDestroyed(): void;
}

/** Creates a machine: fresh sandbox filesystem, new host key, SSH listening; not yet booted. */
export async function createMachine(spec: MachineSpec, deps: MachineDeps): Promise<Machine> {
  const sandboxDir = join(deps.dataDir, String(spec.serverId));
  // A new server gets a fresh disk, even when a dataDir is reused across simulator runs.
  await rm(sandboxDir, { recursive: true, force: true });
  let sandbox: Sandbox | null = null;
  try {
    // Not ssh2's keygen: it mangles about 1 ed25519 key in 256 (see core/ssh-keygen.ts).
    const hostKey = generateSshKeyPair(`root@${spec.name}`);
    await createSandboxLayout(sandboxDir, spec.name, deps.isolation.available ? deps.isolation.owner : null);
    sandbox = await Sandbox.open(sandboxDir, spec.name, deps.isolation);
    const endpoint = await startSshEndpoint({
      address: spec.ipv4,
      port: deps.sshPort,
      hostKey: hostKey.privateKey,
      sandbox,
      shouldDrop: () => deps.faults.takeSshDrop(spec.serverId),
      onError: deps.onError,
    });
    return new FakeMachine(spec, deps, sandbox, endpoint, hostKey.publicKey);
  } catch (error) {
    await sandbox?.close();
    await rm(sandboxDir, { recursive: true, force: true });
    throw error;
  }
}

class FakeMachine implements Machine {
  readonly serverId: number;
  readonly #cloudInit: MachineView["cloudInit"] = {
    state: "pending",
    error: null,
    phoneHome: { url: null, attempts: 0, lastStatus: null, deliveredAt: null },
  };
  readonly #lifetime = new AbortController();
  #firstBoot: Promise<void> | null = null;
  #destroyed: Promise<void> | null = null;

  constructor(
    private readonly spec: MachineSpec,
    private readonly deps: MachineDeps,
    private readonly sandbox: Sandbox,
    private readonly endpoint: SshEndpoint,
    private readonly hostKeyLine: string,
  ) {
    this.serverId = spec.serverId;
  }

  view(): MachineView {
    return {
      serverId: this.spec.serverId,
      name: this.spec.name,
      address: this.spec.ipv4,
      sshPort: this.deps.sshPort,
      hostKeyEd25519: this.hostKeyLine,
      sandboxDir: this.sandbox.rootDir,
      userData: this.spec.userData,
      cloudInit: structuredClone(this.#cloudInit),
    };
  }

  boot(): void {
    // cloud-init runs its modules once per instance; later boots (reboots) do not repeat them.
    if (this.#firstBoot || this.#lifetime.signal.aborted) return;
    // Without isolation nothing runs in the box; cloud-init reports why.
    if (this.deps.isolation.available) {
      startServiceSupervisor(this.sandbox, this.deps.timeScale, this.deps.onError, this.#lifetime.signal);
    }
    this.#firstBoot = runCloudInit({
      spec: this.spec,
      sandbox: this.sandbox,
      hostKeyLine: this.hostKeyLine,
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
      await this.sandbox.close();
      await this.#firstBoot;
      await rm(this.sandbox.rootDir, { recursive: true, force: true });
    } finally {
      this.deps.onDestroyed();
    }
  }
}
