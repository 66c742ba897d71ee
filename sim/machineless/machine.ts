/**
 * A server with no machine behind it: no process, no disk, no container. Its first boot is read from the
 * user-data instead of run: the accounts exist at once, runcmd is taken as succeeded, and after the
 * configured cloud-init time the simulator itself sends the phone_home, from the server's own address as
 * a real one would (the callback's peer address rule holds). SSH is answered in-process (ssh.ts). For fleet
 * benchmarks only: nothing of the server's own work is exercised.
 */
import { raceAbort, sleep } from "../../core/abort.ts";
import { generateSshKeyPair } from "../../core/ssh-keygen.ts";
import { type CloudPhoneHome, parseCloudConfig } from "../machine/cloud-init/config.ts";
import type { MachineFaultBoard } from "../machine/faults.ts";
import type { Machine, MachineSpec, MachineView } from "../machine-contract.ts";
import { bootAccounts, setupMarkers } from "./first-boot.ts";
import { phoneHome } from "./phone-home.ts";
import { type MachinelessSsh, startMachinelessSsh } from "./ssh.ts";
import type { MachinelessState } from "./state.ts";

export interface MachinelessDeps {
  sshPort: number;
  timeScale: number;
  /** Unscaled time from boot to phone_home, in ms. */
  cloudInitMs: number;
  faults: MachineFaultBoard;
  onError(error: Error): void;
  /** Called once `destroy` has finished, so the host stops listing the machine. */
  onDestroyed(): void;
}

/** Pause between phone_home tries, as cloud-init's url_helper uses, unscaled, in ms. */
const PHONE_HOME_SPACING_MS = 3000;

export async function createMachinelessMachine(spec: MachineSpec, deps: MachinelessDeps): Promise<Machine> {
  const hostKey = generateSshKeyPair(`root@${spec.name}`);
  let settleBoot: (result: "done" | "error") => void = () => undefined;
  const state: MachinelessState = {
    accounts: new Map(),
    files: new Map(),
    units: new Map(),
    claudeCli: !deps.faults.claudeCliMissing(spec.serverId),
    bootResult: new Promise((resolve) => {
      settleBoot = resolve;
    }),
  };
  const ssh = await startMachinelessSsh({
    address: spec.ipv4,
    port: deps.sshPort,
    hostKey: hostKey.privateKey,
    state,
    shouldDrop: () => deps.faults.takeSshDrop(spec.serverId),
    onError: deps.onError,
  });
  return new MachinelessMachine(spec, deps, state, settleBoot, ssh, hostKey.publicKey);
}

class MachinelessMachine implements Machine {
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
    private readonly deps: MachinelessDeps,
    private readonly state: MachinelessState,
    private readonly settleBoot: (result: "done" | "error") => void,
    private readonly ssh: MachinelessSsh,
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
      // No disk: nothing of it exists outside this process.
      sandboxDir: "",
      userData: this.spec.userData,
      cloudInit: structuredClone(this.#cloudInit),
    };
  }

  boot(dueAt?: number): void {
    // cloud-init runs its modules once per instance; later boots do not repeat them.
    if (this.#firstBoot || this.#lifetime.signal.aborted) return;
    this.#firstBoot = this.#runFirstBoot(dueAt ?? performance.now()).catch((error: Error) => {
      if (this.#lifetime.signal.aborted) return;
      this.#cloudInit.state = "error";
      this.#cloudInit.error = error.message;
      this.settleBoot("error");
    });
  }

  async #runFirstBoot(bootedAt: number): Promise<void> {
    const signal = this.#lifetime.signal;
    this.#cloudInit.state = "running";
    const config = this.spec.userData === null ? null : parseCloudConfig(this.spec.userData);
    // Users and keys come with cloud-init's first stages, long before its final one.
    for (const account of bootAccounts(config)) this.state.accounts.set(account.name, account);
    const finalStageAt = bootedAt + this.deps.cloudInitMs * this.deps.timeScale;
    await sleep(Math.max(0, finalStageAt - performance.now()), signal);
    for (const [path, content] of setupMarkers(config, new Date())) this.state.files.set(path, content);
    if (config?.phone_home) await this.#phoneHome(config.phone_home);
    this.#cloudInit.state = "done";
    this.settleBoot("done");
  }

  async #phoneHome(settings: CloudPhoneHome): Promise<void> {
    const { spec, deps } = this;
    const signal = this.#lifetime.signal;
    const url = settings.url.replaceAll(/\$\{INSTANCE_ID\}|\$INSTANCE_ID/g, String(spec.serverId));
    this.#cloudInit.phoneHome.url = url;
    const plan = deps.faults.phoneHomePlan(spec.serverId);
    // A server that never phones home looks, from outside, like cloud-init hung before its final stage.
    if (plan.never) await raceAbort(new Promise<never>(() => undefined), signal);
    await sleep(plan.delayMs, signal);
    // The hostname is the server's name, as Hetzner's datasource gives it (our user-data sets none).
    const known: Record<string, string> = {
      pub_key_ed25519: `${this.hostKeyLine}\n`,
      instance_id: String(spec.serverId),
      hostname: spec.name,
      fqdn: spec.name,
    };
    const names = settings.post;
    const status = this.#cloudInit.phoneHome;
    const delivered = await phoneHome({
      url: new URL(url),
      // As cloud-init does, a requested key the server lacks (it has only ed25519) is sent as "N/A".
      fields: Object.fromEntries(names.map((name) => [name, known[name] ?? "N/A"])),
      tries: settings.tries,
      spacingMs: PHONE_HOME_SPACING_MS * deps.timeScale,
      localAddress: spec.ipv4,
      signal,
      onAttempt(httpStatus) {
        status.attempts++;
        status.lastStatus = httpStatus;
      },
    });
    if (delivered) status.deliveredAt = new Date().toISOString();
  }

  destroy(): Promise<void> {
    this.#destroyed ??= this.#teardown();
    return this.#destroyed;
  }

  async #teardown(): Promise<void> {
    this.#lifetime.abort();
    try {
      await this.ssh.close();
      await this.#firstBoot;
    } finally {
      this.deps.onDestroyed();
    }
  }
}
