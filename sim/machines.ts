/**
 * Which machine backs each server: the stand-in (sim/machine, fast, emulated) or a container (sim/container,
 * a real Debian 13 boot). One kind for every server, or a choice per server from its spec (e.g. its image).
 */
import { type ContainerHost, createContainerHost } from "./container/host.ts";
import type { Lab } from "./container/lab.ts";
import type { RootfsOptions } from "./container/rootfs.ts";
import { createMachineHost } from "./machine/host.ts";
import type { Machine, MachineHost, MachineHostOptions, MachineSpec } from "./machine-contract.ts";

export type MachineKind = "stand-in" | "container";
export const MACHINE_KINDS: readonly MachineKind[] = ["stand-in", "container"];

/** One kind for all servers, or a function choosing per server (called once, when the server is created). */
export type MachineChoice = MachineKind | ((spec: MachineSpec) => MachineKind);

/** A machine host; one that can make containers also has the lab their network lives in. */
export type SimMachineHost = MachineHost & { readonly lab?: Lab };

export async function createChosenMachineHost(
  options: MachineHostOptions,
  choice: MachineChoice,
  rootfs?: RootfsOptions,
): Promise<SimMachineHost> {
  if (choice === "stand-in") return createMachineHost(options);
  const containers = await createContainerHost({ ...options, rootfs });
  if (choice === "container") return containers;
  return mixedHost(createMachineHost(options), containers, choice);
}

/** Both hosts behind one; machine faults go to the stand-ins (real programs are not made to fail). */
function mixedHost(
  standIns: MachineHost,
  containers: ContainerHost,
  choose: (spec: MachineSpec) => MachineKind,
): SimMachineHost {
  const hostOf = (serverId: number) => (containers.get(serverId) ? containers : standIns);
  return {
    lab: containers.lab,
    create: (spec) => (choose(spec) === "container" ? containers : standIns).create(spec),
    get: (serverId): Machine | undefined => hostOf(serverId).get(serverId),
    list: () => [...standIns.list(), ...containers.list()],
    faults: standIns.faults,
    async close() {
      await Promise.all([standIns.close(), containers.close()]);
    },
  };
}
