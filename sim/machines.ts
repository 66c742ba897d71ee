/**
 * Which machine backs each server: the stand-in (sim/machine, fast, emulated), a container (sim/container,
 * a real Debian 13 boot) or none (sim/machineless, for fleet benchmarks: the simulator answers the boot's
 * callback and SSH itself). One kind for every server, or a choice per server from its spec (e.g. its image).
 */
import { type ContainerHost, createContainerHost } from "./container/host.ts";
import type { Lab } from "./container/lab.ts";
import type { RootfsOptions } from "./container/rootfs.ts";
import { createMachineHost } from "./machine/host.ts";
import type { Machine, MachineHost, MachineHostOptions, MachineSpec } from "./machine-contract.ts";
import { createMachinelessHost } from "./machineless/host.ts";

export type MachineKind = "stand-in" | "container" | "machineless";
export const MACHINE_KINDS: readonly MachineKind[] = ["stand-in", "container", "machineless"];

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
  if (choice === "machineless") return createMachinelessHost(options);
  const containers = await createContainerHost({ ...options, rootfs });
  if (choice === "container") return containers;
  return mixedHost(
    {
      "stand-in": createMachineHost(options),
      machineless: createMachinelessHost(options),
      container: containers,
    },
    choice,
  );
}

/** Every kind behind one; machine faults go to the stand-ins and machineless servers (real programs are not made to fail). */
function mixedHost(
  hosts: Record<MachineKind, MachineHost> & { container: ContainerHost },
  choose: (spec: MachineSpec) => MachineKind,
): SimMachineHost {
  const all = Object.values(hosts);
  const hostOf = (serverId: number) => all.find((host) => host.get(serverId)) ?? hosts["stand-in"];
  const emulated = [hosts["stand-in"], hosts.machineless];
  return {
    lab: hosts.container.lab,
    create: (spec) => hosts[choose(spec)].create(spec),
    get: (serverId): Machine | undefined => hostOf(serverId).get(serverId),
    list: () => all.flatMap((host) => host.list()),
    faults: {
      add: (fault) => {
        for (const host of emulated) host.faults.add(fault);
      },
      clear: () => {
        for (const host of emulated) host.faults.clear();
      },
      list: () => hosts["stand-in"].faults.list(),
    },
    async close() {
      await Promise.all(all.map((host) => host.close()));
    },
  };
}
