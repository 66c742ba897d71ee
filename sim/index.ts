/**
 * The local Hetzner Cloud simulator: a stateful loopback server speaking the Hetzner API under /v1,
 * with a fake machine (SSH + cloud-init) behind each server, fault injection and a time scale.
 */
import { createChosenMachineHost } from "./machines.ts";
import { launchSimulator, type Simulator, type SimulatorOptions } from "./simulator.ts";

export { DEFAULT_PROJECT, DEFAULT_TIMINGS, type SimTimings } from "./api/world.ts";
export { ContainerMachine } from "./container/container.ts";
export type { Lab } from "./container/lab.ts";
export type { SimFault } from "./faults.ts";
export type { MachineFault, MachineHost, MachineView } from "./machine-contract.ts";
export type { MachineChoice, MachineKind } from "./machines.ts";
export type { SimRequestRecord } from "./request-log.ts";
export type { SimProjectOptions, Simulator, SimulatorOptions } from "./simulator.ts";
export { SimulatorOptionsError } from "./simulator.ts";

/**
 * Starts a simulator on 127.0.0.1 with a machine behind every server (stand-ins unless `machines`
 * says otherwise); call `stop()` to release everything. Rejects with SimulatorOptionsError naming
 * every bad option, or a ContainerHostError naming what container machines need and this host lacks.
 */
export function startSimulator(options: SimulatorOptions = {}): Promise<Simulator> {
  const rootfs = options.rootfsCacheDir ? { cacheDir: options.rootfsCacheDir } : undefined;
  return launchSimulator(options, (hostOptions) =>
    createChosenMachineHost(hostOptions, options.machines ?? "stand-in", rootfs),
  );
}
