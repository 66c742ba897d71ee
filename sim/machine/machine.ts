import { rm } from "node:fs/promises";
import { join } from "node:path";
import { generateSshKeyPair } from "../../jobs/remote/keygen.ts";
import { runCloudInit } from "./cloud-init/run.ts";
import type { MachineFaultBoard } from "./faults.ts";
import { createSandboxLayout } from "./sandbox/layout.ts";
import { type Isolation, Sandbox } from "./sandbox/sandbox.ts";
import { startSshEndpoint } from "./ssh/endpoint.ts";
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
}

/** Creates a machine: sandbox filesystem laid out, host key generated, SSH listening; not yet booted. */
export async function createMachine(spec: MachineSpec, deps: MachineDeps): Promise<Machine> {
  const sandboxDir = join(deps.dataDir, String(spec.serverId));
  // Not ssh2's keygen: it mangles about 1 ed25519 key in 256 (see keygen.ts).
  const hostKey = generateSshKeyPair(`root@${spec.name}`);
  const hostKeyLine = hostKey.publicKey;
  await createSandboxLayout(sandboxDir, spec.name, deps.isolation.available ? deps.isolation.owner : null);
  const sandbox = new Sandbox(sandboxDir, spec.name, deps.isolation);
  const endpoint = await startSshEndpoint({
    address: spec.ipv4,
    port: deps.sshPort,
    hostKey: hostKey.privateKey,
    sandbox,
    shouldDrop: () => deps.faults.takeSshDrop(spec.serverId),
    onError: deps.onError,
  }).catch(async (error: Error) => {
    await rm(sandboxDir, { recursive: true, force: true });
    throw error;
  });
  const cloudInit: MachineView["cloudInit"] = {
    state: "pending",
    error: null,
    phoneHome: { url: null, attempts: 0, lastStatus: null, deliveredAt: null },
  };
  const lifetime = new AbortController();
  let firstBoot: Promise<void> | null = null;
  let destroyed: Promise<void> | null = null;

  async function teardown(): Promise<void> {
    lifetime.abort();
    await endpoint.close();
    await sandbox.close();
    await firstBoot;
    await rm(sandboxDir, { recursive: true, force: true });
  }

  return {
    serverId: spec.serverId,
    view: () => ({
      serverId: spec.serverId,
      name: spec.name,
      address: spec.ipv4,
      sshPort: deps.sshPort,
      hostKeyEd25519: hostKeyLine,
      sandboxDir,
      userData: spec.userData,
      cloudInit: structuredClone(cloudInit),
    }),
    boot() {
      // cloud-init runs its modules once per instance; later boots (reboots) do not repeat them.
      if (firstBoot || lifetime.signal.aborted) return;
      firstBoot = runCloudInit({
        spec,
        sandbox,
        hostKeyLine,
        timeScale: deps.timeScale,
        cloudInitMs: deps.cloudInitMs,
        faults: deps.faults,
        status: cloudInit,
        signal: lifetime.signal,
      });
    },
    destroy() {
      destroyed ??= teardown();
      return destroyed;
    },
  };
}
