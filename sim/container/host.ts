/**
 * The host of container machines: one lab per host, one container per server. The root filesystem
 * is built (or found in the cache) when the first container is created, so a simulator that never
 * creates one never pays for it; the first server's create_server waits for it like a slow disk.
 */
import { mkdirSync } from "node:fs";
import type { MachineFault, MachineHost, MachineHostOptions, MachineSpec } from "../machine-contract.ts";
import { ContainerMachine } from "./container.ts";
import { ContainerHostError } from "./errors.ts";
import { createLab, type Lab } from "./lab.ts";
import { assertContainerRequirements } from "./requirements.ts";
import { ensureRootfs, type RootfsOptions } from "./rootfs.ts";

export interface ContainerHostOptions extends MachineHostOptions {
  rootfs?: RootfsOptions;
}

export interface ContainerHost extends MachineHost {
  readonly lab: Lab;
  get(serverId: number): ContainerMachine | undefined;
  list(): ContainerMachine[];
  /** The cached root filesystem's path, building it now if needed (the first create does this too). */
  rootfs(): Promise<string>;
}

/** Rejects with a ContainerHostError naming every missing requirement (root, nspawn, debootstrap…). */
export async function createContainerHost(options: ContainerHostOptions): Promise<ContainerHost> {
  assertContainerRequirements();
  mkdirSync(options.dataDir, { recursive: true });
  const lab = await createLab();
  const onError =
    options.onError ??
    ((error: Error, serverId: number) => console.error(`[sim container ${serverId}] ${error.message}`));
  const machines = new Map<number, ContainerMachine>();
  // Faults are kept so the control API lists them, but real programs are not made to misbehave.
  const faults: MachineFault[] = [];
  let rootfs: Promise<string> | null = null;
  let closed = false;
  const buildRootfs = () => {
    rootfs ??= ensureRootfs(options.rootfs);
    return rootfs;
  };

  return {
    lab,
    rootfs: buildRootfs,
    async create(spec: MachineSpec) {
      if (closed) throw new ContainerHostError("host_closed", "the container host has been closed");
      if (machines.has(spec.serverId))
        throw new ContainerHostError(
          "machine_exists",
          `a machine for server ${spec.serverId} already exists`,
        );
      const machine = new ContainerMachine(spec, {
        dataDir: options.dataDir,
        sshPort: options.sshPort,
        lab,
        rootfs: buildRootfs(),
        onError: (error) => onError(error, spec.serverId),
        onDestroyed: () => machines.delete(spec.serverId),
      });
      machines.set(spec.serverId, machine);
      return machine;
    },
    get: (serverId) => machines.get(serverId),
    list: () => [...machines.values()],
    faults: {
      add: (fault) => void faults.push(fault),
      clear: () => void faults.splice(0),
      list: () => [...faults],
    },
    async close() {
      closed = true;
      await Promise.all([...machines.values()].map((machine) => machine.destroy()));
      // A build still running finishes into the cache (it is atomic) before the lab goes away.
      await rootfs?.catch(() => undefined);
      await lab.close();
    },
  };
}
